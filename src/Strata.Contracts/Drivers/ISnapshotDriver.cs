namespace Strata.Contracts.Drivers;

/// <summary>
/// Optional capability: named snapshots of an instance. What a snapshot holds depends on the tier
/// (<see cref="DriverCapabilities.Snapshots"/>): the container tier keeps its writable filesystem layer.
/// </summary>
public interface ISnapshotDriver
{
    /// <summary>Takes a snapshot (the workload may be running). Conflict when the name exists.</summary>
    Task<SnapshotInfo> SnapshotAsync(DriverHandle handle, string snapshot, CancellationToken cancellationToken);

    /// <summary>Puts the instance back to the snapshot. Conflict when the workload is running.</summary>
    Task RestoreAsync(DriverHandle handle, string snapshot, CancellationToken cancellationToken);

    Task<IReadOnlyList<SnapshotInfo>> ListAsync(DriverHandle handle, CancellationToken cancellationToken);

    /// <summary>Removes one snapshot. NotFound when there is no such snapshot.</summary>
    Task DeleteAsync(DriverHandle handle, string snapshot, CancellationToken cancellationToken);
}

public sealed record SnapshotInfo(string Name, DateTimeOffset CreatedAt, long SizeBytes, SnapshotKind Kind);
