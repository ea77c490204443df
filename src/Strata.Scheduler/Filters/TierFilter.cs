namespace Strata.Scheduler.Filters;

/// <summary>The node must offer the request's tier (its engine installed and working there).</summary>
public sealed class TierFilter : IFilterPlugin
{
    public const string PluginName = "tier";

    public string Name => PluginName;

    public bool AppliesTo(PlacementRequest request) => true;

    public FilterVerdict Filter(in NodeCandidate node, PlacementRequest request)
    {
        var tiers = node.Node.Tiers;
        return tiers.Contains(request.Tier)
            ? FilterVerdict.Pass
            : FilterVerdict.Reject($"{request.Tier} unavailable",
                $"node {node.Name}: tier {request.Tier} not available (has {(tiers.Count == 0 ? "none" : string.Join(", ", tiers.Order(StringComparer.Ordinal)))})");
    }
}
