using Strata.Contracts;
using Strata.Contracts.Drivers;

namespace Strata.Store;

/// <summary>One instance as persisted. Immutable: every change is a new record with <see cref="Revision"/> + 1.</summary>
public sealed record InstanceRecord
{
    public required string Id { get; init; }
    public required string Project { get; init; }
    public required string Name { get; init; }
    public required Tier Tier { get; init; }
    public required InstanceState State { get; init; }
    public required InstanceSpec Spec { get; init; }
    public DriverHandle? Handle { get; init; }
    public int? ExitCode { get; init; }
    public string? Reason { get; init; }
    public int RestartCount { get; init; }
    /// <summary>The last stop was asked for by a user (restart policies do not apply).</summary>
    public bool StoppedByUser { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset? StartedAt { get; init; }
    public DateTimeOffset? FinishedAt { get; init; }
    /// <summary>Optimistic-concurrency revision; the store refuses an update whose base revision is stale.</summary>
    public long Revision { get; init; }
    /// <summary>Why the instance runs on its tier (the advisor's decision); null for instances created before it was recorded.</summary>
    public Placement? Placement { get; init; }
}
