namespace Strata.Scheduler;

/// <summary>
/// A feasibility check: may this node take this request at all? One file per plugin under <c>Filters/</c>.
/// <see cref="Reject"/> runs for every visited node, so it returns a bounded reason (a constant string: what the
/// explanation counts by) and allocates nothing; <see cref="Explain"/> writes the sentence for one rejected node
/// ("node n3: memory 512 MiB free &lt; 1 GiB asked") and is asked only for the few examples an explanation keeps.
/// </summary>
public interface IFilterPlugin
{
    /// <summary>The plugin's name as it appears in explanations (<c>capacity</c>, <c>tier</c>…).</summary>
    string Name { get; }

    /// <summary>False when the request gives this plugin nothing to check (no pin, no constraints…): it is skipped.</summary>
    bool AppliesTo(PlacementRequest request);

    /// <summary>Null when the node passes; otherwise the reason, bounded (no node names or numbers).</summary>
    string? Reject(in NodeCandidate node, PlacementRequest request);

    /// <summary>The fact behind <paramref name="reason"/> for this node, starting with <c>node NAME:</c>.</summary>
    string Explain(in NodeCandidate node, PlacementRequest request, string reason);
}

/// <summary>
/// A preference among feasible nodes: a score from 0 (worst) to 100 (best), already normalised by the plugin.
/// The scheduler combines the scores as a weighted average. One file per plugin under <c>Scoring/</c>.
/// </summary>
public interface IScorePlugin
{
    string Name { get; }

    /// <summary>The weight used when <see cref="SchedulerOptions.Weights"/> does not name this plugin (0–100).</summary>
    int DefaultWeight { get; }

    /// <summary>False when the plugin has no opinion on this request: it is left out of the average.</summary>
    bool AppliesTo(PlacementRequest request);

    double Score(in NodeCandidate node, PlacementRequest request);
}

/// <summary>
/// A node as a plugin sees it during a placement: the snapshot's record plus what the current plan has already
/// placed on it (free resources and anti-affinity counts are the plan's, not the snapshot's).
/// <para>
/// A rejected node kept as an explanation example is <em>frozen</em>: its fact is written later, only if the
/// explanation is read, from the free resources and the request's anti-affinity count it had when rejected.
/// </para>
/// </summary>
public readonly struct NodeCandidate
{
    private readonly SchedulingPlan? _plan;
    private readonly int _index;
    private readonly NodeInfo? _frozenNode;
    private readonly Resources _frozenFree;
    private readonly (string Project, string Group, int Added) _frozenGroup;

    internal NodeCandidate(SchedulingPlan plan, int index)
    {
        _plan = plan;
        _index = index;
        _frozenNode = null;
        _frozenFree = default;
        _frozenGroup = default;
    }

    private NodeCandidate(NodeInfo node, Resources free, (string, string, int) group)
    {
        _plan = null;
        _index = -1;
        _frozenNode = node;
        _frozenFree = free;
        _frozenGroup = group;
    }

    public NodeInfo Node => _plan?.Snapshot.NodeAt(_index) ?? _frozenNode!;

    public string Name => Node.Name;

    /// <summary>What is free on the node now, after the plan's earlier placements.</summary>
    public Resources Free => _plan is { } plan ? plan.FreeAt(_index) : _frozenFree;

    /// <summary>
    /// What is free on the node counting predicted use (<see cref="NodeInfo.PredictedFree"/>), after the plan's earlier
    /// placements (each counted at its prediction, else its request). Score plugins read this.
    /// </summary>
    public Resources PredictedFree => _plan is { } plan ? plan.PredictedFreeAt(_index) : _frozenFree;

    /// <summary>Instances of <paramref name="project"/>'s anti-affinity <paramref name="group"/> on the node, the plan's included.</summary>
    public int CountInGroup(string project, string group) =>
        Node.CountInGroup(project, group) + (_plan is { } plan
            ? plan.AddedInGroup(_index, project, group)
            : _frozenGroup.Project == project && _frozenGroup.Group == group ? _frozenGroup.Added : 0);

    /// <summary>This node as it is now, for <paramref name="request"/>'s explanation, independent of later placements.</summary>
    internal NodeCandidate Freeze(PlacementRequest request)
    {
        if (_plan is not { } plan)
        {
            return this;
        }
        var group = request.AntiAffinity is { } a ? (request.Project, a.Group, plan.AddedInGroup(_index, request.Project, a.Group)) : default;
        return new NodeCandidate(Node, Free, group);
    }
}
