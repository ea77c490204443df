namespace Strata.Scheduler.Filters;

/// <summary><c>--node NAME</c>: only the named node is feasible.</summary>
public sealed class PinFilter : IFilterPlugin
{
    public const string PluginName = "pin";
    public const string NotPinned = "not the pinned node";

    public string Name => PluginName;

    public bool AppliesTo(PlacementRequest request) => request.Node is not null;

    public string? Reject(in NodeCandidate node, PlacementRequest request) =>
        node.Name == request.Node ? null : NotPinned;

    public string Explain(in NodeCandidate node, PlacementRequest request, string reason) =>
        $"node {node.Name}: not the pinned node {request.Node} (--node)";
}
