namespace Strata.Scheduler;

/// <summary>One placement a plan made: the node and the node version it was planned against.</summary>
public sealed record PlannedPlacement(PlacementRequest Request, string Node, long NodeVersion, double Score);

/// <summary>A planned placement the newer snapshot no longer allows, and why.</summary>
public sealed record RejectedPlacement(PlannedPlacement Placement, string Reason);

/// <summary>
/// The outcome of <see cref="Scheduler.Verify"/>: placements that may be committed and those that must be planned
/// again. Rejection is per node: a node either keeps all of the plan's placements or none.
/// </summary>
public sealed record PlanVerification(IReadOnlyList<PlannedPlacement> Accepted, IReadOnlyList<RejectedPlacement> Rejected)
{
    public bool FullyAccepted => Rejected.Count == 0;

    /// <summary>The nodes whose placements were rejected, in plan order.</summary>
    public IReadOnlyList<string> RejectedNodes => [.. Rejected.Select(r => r.Placement.Node).Distinct(StringComparer.Ordinal)];
}
