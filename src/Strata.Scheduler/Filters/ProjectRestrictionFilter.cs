namespace Strata.Scheduler.Filters;

/// <summary>The project's operator-set limits: the tiers it may use and the nodes it may run on.</summary>
public sealed class ProjectRestrictionFilter : IFilterPlugin
{
    public const string PluginName = "project";
    private const string TierNotAllowed = "tier not allowed";
    private const string NodeNotAllowed = "node not allowed";

    public string Name => PluginName;

    public bool AppliesTo(PlacementRequest request) =>
        request.ProjectRules is { } rules && (rules.AllowedTiers is not null || rules.AllowedNodes is not null);

    public string? Reject(in NodeCandidate node, PlacementRequest request)
    {
        var rules = request.ProjectRules!;
        if (rules.AllowedTiers is { } tiers && !tiers.Contains(request.Tier))
        {
            return TierNotAllowed;
        }
        return rules.AllowedNodes is { } nodes && !nodes.Contains(node.Name) ? NodeNotAllowed : null;
    }

    public string Explain(in NodeCandidate node, PlacementRequest request, string reason) =>
        reason == TierNotAllowed
            ? $"node {node.Name}: project {request.Project} may not use tier {request.Tier} (allowed: {string.Join(", ", request.ProjectRules!.AllowedTiers!)})"
            : $"node {node.Name}: not among project {request.Project}'s allowed nodes";
}
