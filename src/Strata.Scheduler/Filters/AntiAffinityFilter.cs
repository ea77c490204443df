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

    public FilterVerdict Filter(in NodeCandidate node, PlacementRequest request)
    {
        var group = request.AntiAffinity!.Group;
        var count = node.CountInGroup(request.Project, group);
        return count == 0
            ? FilterVerdict.Pass
            : FilterVerdict.Reject($"group {group}",
                $"node {node.Name}: already runs {count} instance{(count == 1 ? "" : "s")} of anti-affinity group {group}");
    }
}
