namespace Strata.Scheduler.Filters;

/// <summary>An offline node (lease expired) or a draining one (operator's <c>strata node drain</c>) takes nothing new.</summary>
public sealed class NodeStateFilter : IFilterPlugin
{
    public const string PluginName = "node-state";

    public string Name => PluginName;

    public bool AppliesTo(PlacementRequest request) => true;

    public string? Reject(in NodeCandidate node, PlacementRequest request)
    {
        var info = node.Node;
        return info.Offline ? "offline" : info.Draining ? "draining" : null;
    }

    public string Explain(in NodeCandidate node, PlacementRequest request, string reason) =>
        reason == "offline"
            ? $"node {node.Name}: offline (its lease expired)"
            : $"node {node.Name}: draining (strata node undrain {node.Name} to use it again)";
}
