namespace Strata.Scheduler.Filters;

/// <summary>
/// Hard anti-affinity: a node already running an instance of the same project's group is not feasible.
/// Groups are per project: another project's group of the same name is invisible here.
/// </summary>
public sealed class AntiAffinityFilter : IFilterPlugin
{
    public const string PluginName = "anti-affinity";

    public string Name => PluginName;

    public bool AppliesTo(PlacementRequest request) => request.AntiAffinity is { Hard: true };

    public string? Reject(in NodeCandidate node, PlacementRequest request) =>
        node.CountInGroup(request.Project, request.AntiAffinity!.Group) == 0 ? null : "group already there";

    public string Explain(in NodeCandidate node, PlacementRequest request, string reason)
    {
        var group = request.AntiAffinity!.Group;
        var count = node.CountInGroup(request.Project, group);
        return $"node {node.Name}: already runs {count} instance{(count == 1 ? "" : "s")} of anti-affinity group {group}";
    }
}
