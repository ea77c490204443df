namespace Strata.Store;

/// <summary>
/// One instance's usage history as persisted: the right-sizing library's state as JSON (opaque here, versioned by
/// that library) and the policy state. Kept after the instance is removed (<see cref="RemovedAt"/>) until pruned.
/// </summary>
public sealed record UsageHistoryRecord
{
    public required string InstanceId { get; init; }
    public required string Project { get; init; }
    public required string Name { get; init; }
    public required string Tier { get; init; }
    /// <summary>The history's state (<c>UsageHistoryState</c> JSON; about 5 KiB after ten days).</summary>
    public required string History { get; init; }
    /// <summary>The rightsize policy's state (<c>RightsizeState</c> JSON).</summary>
    public required string Policy { get; init; }
    public required DateTimeOffset UpdatedAt { get; init; }
    /// <summary>When the instance was removed; null while it exists.</summary>
    public DateTimeOffset? RemovedAt { get; init; }
}

/// <summary>
/// Durable usage histories (docs/rightsizing.md, "In the daemon"). Implemented by <see cref="SqliteStateStore"/> (same
/// database as the instances) and <see cref="InMemoryStateStore"/>.
/// </summary>
public interface IUsageStore
{
    Task<IReadOnlyList<UsageHistoryRecord>> ListUsageAsync(CancellationToken cancellationToken = default);

    /// <summary>Inserts or replaces each record (by instance id), all in one transaction.</summary>
    Task SaveUsageAsync(IReadOnlyList<UsageHistoryRecord> records, CancellationToken cancellationToken = default);

    /// <summary>Deletes the histories of instances removed before <paramref name="removedBefore"/>; returns how many.</summary>
    Task<int> PruneUsageAsync(DateTimeOffset removedBefore, CancellationToken cancellationToken = default);
}
