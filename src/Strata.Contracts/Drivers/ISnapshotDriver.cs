namespace Strata.Contracts.Drivers;

/// <summary>
/// Optional capability: a driver that can save an instance's state and start the instance again from it.
/// What "state" means is the tier's (<see cref="DriverCapabilities.Snapshots"/>): wasm captures linear memory
/// and globals, a container its filesystem, a VM memory and disk. The control plane owns where snapshots live
/// (<c>instances/&lt;id&gt;/snapshots/&lt;name&gt;/</c>), their names and their listing; the driver owns what
/// goes into the directory it is given.
/// </summary>
public interface ISnapshotDriver
{
    /// <summary>
    /// Captures the instance's state into <paramref name="directory"/> (exists, empty). A running workload may be
    /// paused briefly and keeps running afterwards. Throws <see cref="StrataException"/> with
    /// <see cref="ErrorKind.Conflict"/> when this instance's state cannot be captured, saying why.
    /// </summary>
    Task<SnapshotDetails> SnapshotAsync(DriverHandle handle, string directory, CancellationToken cancellationToken);

    /// <summary>
    /// Starts the (not running) instance again from the state in <paramref name="directory"/>; returns the
    /// started handle, as <see cref="IDriver.StartAsync"/> does.
    /// </summary>
    Task<DriverHandle> RestoreAsync(DriverHandle handle, string directory, CancellationToken cancellationToken);
}

/// <summary>What a driver reports about a snapshot it took.</summary>
public sealed record SnapshotDetails(SnapshotKind Kind, long SizeBytes, string Description);

/// <summary>
/// Optional capability beside <see cref="ISnapshotDriver"/>: restoring a <em>running</em> instance in place (a VM
/// goes back to the saved moment without a reboot), and removing what a snapshot left inside the engine.
/// </summary>
public interface ILiveSnapshotDriver
{
    /// <summary>Puts the running instance back to the state in <paramref name="directory"/>; it keeps running.</summary>
    Task RestoreRunningAsync(DriverHandle handle, string directory, CancellationToken cancellationToken);

    /// <summary>Removes engine-side data of the snapshot in <paramref name="directory"/> (before the directory goes). Idempotent.</summary>
    Task DeleteSnapshotAsync(DriverHandle handle, string directory, bool running, CancellationToken cancellationToken);
}
