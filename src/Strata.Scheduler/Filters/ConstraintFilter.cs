namespace Strata.Scheduler.Filters;

/// <summary>
/// <c>--constraint label=value</c> and <c>label!=value</c>: every one must hold on the node's labels. The reason is
/// the constraint that failed (bounded: a request has a few).
/// </summary>
public sealed class ConstraintFilter : IFilterPlugin
{
    public const string PluginName = "constraint";

    public string Name => PluginName;

    public bool AppliesTo(PlacementRequest request) => request.Constraints.Count > 0;

    public string? Reject(in NodeCandidate node, PlacementRequest request)
    {
        var labels = node.Node.Labels;
        foreach (var constraint in request.Constraints)
        {
            if (!constraint.HoldsOn(labels))
            {
                return constraint.Text;
            }
        }
        return null;
    }

    public string Explain(in NodeCandidate node, PlacementRequest request, string reason)
    {
        var label = request.Constraints.First(c => c.Text == reason).Label;
        var actual = node.Node.Labels.TryGetValue(label, out var v) ? $"label {label}={v}" : $"no label {label}";
        return $"node {node.Name}: {actual}, constraint {reason} asked";
    }
}
