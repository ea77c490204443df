namespace Strata.Scheduler.Filters;

/// <summary><c>--node NAME</c>: only the named node is feasible.</summary>
public sealed class PinFilter : IFilterPlugin
{
    public const string PluginName = "pin";

    public string Name => PluginName;

    public bool AppliesTo(PlacementRequest request) => request.Node is not null;

    public FilterVerdict Filter(in NodeCandidate node, PlacementRequest request) =>
        node.Name == request.Node
            ? FilterVerdict.Pass
            : FilterVerdict.Reject("not the pinned node", $"node {node.Name}: not the pinned node {request.Node} (--node)");
}
