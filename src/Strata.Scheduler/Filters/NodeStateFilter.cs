namespace Strata.Scheduler.Filters;

/// <summary>An offline node (lease expired) or a draining one (operator's <c>strata node drain</c>) takes nothing new.</summary>
public sealed class NodeStateFilter : IFilterPlugin
{
    public const string PluginName = "node-state";

    public string Name => PluginName;

    public bool AppliesTo(PlacementRequest request) => true;

    public FilterVerdict Filter(in NodeCandidate node, PlacementRequest request)
    {
        var info = node.Node;
        if (info.Offline)
        {
            return FilterVerdict.Reject("offline", $"node {info.Name}: offline (its lease expired)");
        }
        return info.Draining
            ? FilterVerdict.Reject("draining", $"node {info.Name}: draining (strata node undrain {info.Name} to use it again)")
            : FilterVerdict.Pass;
    }
}
