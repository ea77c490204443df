namespace Strata.Scheduler.Filters;

/// <summary><c>--constraint label=value</c> and <c>label!=value</c>: every one must hold on the node's labels.</summary>
public sealed class ConstraintFilter : IFilterPlugin
{
    public const string PluginName = "constraint";

    public string Name => PluginName;

    public bool AppliesTo(PlacementRequest request) => request.Constraints.Count > 0;

    public FilterVerdict Filter(in NodeCandidate node, PlacementRequest request)
    {
        var labels = node.Node.Labels;
        foreach (var constraint in request.Constraints)
        {
            if (!constraint.HoldsOn(labels))
            {
                var actual = labels.TryGetValue(constraint.Label, out var v) ? $"label {constraint.Label}={v}" : $"no label {constraint.Label}";
                return FilterVerdict.Reject(constraint.ToString(), $"node {node.Name}: {actual}, constraint {constraint} asked");
            }
        }
        return FilterVerdict.Pass;
    }
}
