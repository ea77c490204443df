namespace Strata.Scheduler.Filters;

/// <summary>The project's operator-set limits: the tiers it may use and the nodes it may run on.</summary>
public sealed class ProjectRestrictionFilter : IFilterPlugin
{
    public const string PluginName = "project";

    public string Name => PluginName;

    public bool AppliesTo(PlacementRequest request) =>
        request.ProjectRules is { } rules && (rules.AllowedTiers is not null || rules.AllowedNodes is not null);

    public FilterVerdict Filter(in NodeCandidate node, PlacementRequest request)
    {
        var rules = request.ProjectRules!;
        if (rules.AllowedTiers is { } tiers && !tiers.Contains(request.Tier))
        {
            return FilterVerdict.Reject("tier not allowed",
                $"node {node.Name}: project {request.Project} may not use tier {request.Tier} (allowed: {string.Join(", ", tiers)})");
        }
        return rules.AllowedNodes is { } nodes && !nodes.Contains(node.Name)
            ? FilterVerdict.Reject("node not allowed", $"node {node.Name}: not among project {request.Project}'s allowed nodes")
            : FilterVerdict.Pass;
    }
}
