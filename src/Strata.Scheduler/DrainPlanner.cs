namespace Strata.Scheduler;

/// <summary>Where one instance of a drained node goes: the node the scheduler picked, or why none could take it.</summary>
public sealed record DrainTarget(PlacementRequest Request, string? Node, string? Error, PlacementExplanation Explanation);

/// <summary>
/// The targets of <c>strata node drain</c>, chosen by the placement's own pipeline: one plan over the snapshot without
/// the drained node places the node's instances in turn, so each sees what the earlier ones took (the filters, the
/// weighted scores of the configured algorithm, predicted use where the nodes published it). A pin to the drained
/// node is dropped (the drain is what moves it off); any other rule of the request holds.
/// </summary>
public static class DrainPlanner
{
    public static IReadOnlyList<DrainTarget> Plan(Scheduler scheduler, ClusterSnapshot snapshot, string drained, IEnumerable<PlacementRequest> requests, int seed)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        ArgumentNullException.ThrowIfNull(snapshot);
        var others = new ClusterSnapshot([.. snapshot.Nodes.Where(n => !string.Equals(n.Name, drained, StringComparison.Ordinal))], snapshot.Revision);
        var plan = scheduler.CreatePlan(others, seed);
        var targets = new List<DrainTarget>();
        foreach (var request in requests)
        {
            var asked = string.Equals(request.Node, drained, StringComparison.Ordinal) ? request with { Node = null } : request;
            var outcome = plan.Place(asked);
            targets.Add(new DrainTarget(asked, outcome.Node, outcome.Error, outcome.Explanation));
        }
        return targets;
    }
}
