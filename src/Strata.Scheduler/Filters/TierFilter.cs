namespace Strata.Scheduler.Filters;

/// <summary>The node must offer the request's tier (its engine installed and working there).</summary>
public sealed class TierFilter : IFilterPlugin
{
    public const string PluginName = "tier";

    public string Name => PluginName;

    public bool AppliesTo(PlacementRequest request) => true;

    public string? Reject(in NodeCandidate node, PlacementRequest request) =>
        node.Node.HasTier(request.Tier) ? null : "unavailable";

    public string Explain(in NodeCandidate node, PlacementRequest request, string reason)
    {
        var tiers = node.Node.Tiers;
        return $"node {node.Name}: tier {request.Tier} not available (has {(tiers.Count == 0 ? "none" : string.Join(", ", tiers.Order(StringComparer.Ordinal)))})";
    }
}
