namespace Strata.Scheduler;

/// <summary>
/// A feasibility check: may this node take this request at all? One file per plugin under <c>Filters/</c>.
/// A rejection names a bounded <see cref="FilterVerdict.Reason"/> (what the explanation counts by) and the
/// fact for this node ("node n3: memory 512 MiB free &lt; 1 GiB asked").
/// </summary>
public interface IFilterPlugin
{
    /// <summary>The plugin's name as it appears in explanations (<c>capacity</c>, <c>tier</c>…).</summary>
    string Name { get; }

    /// <summary>False when the request gives this plugin nothing to check (no pin, no constraints…): it is skipped.</summary>
    bool AppliesTo(PlacementRequest request);

    FilterVerdict Filter(in NodeCandidate node, PlacementRequest request);
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

/// <summary>A filter's answer: pass, or a rejection with its reason and the fact behind it.</summary>
public readonly record struct FilterVerdict(string? Reason, string? Fact)
{
    public static FilterVerdict Pass => default;

    public bool Passed => Reason is null;

    /// <param name="reason">Bounded (no node names, no numbers): rejections are counted by it.</param>
    /// <param name="fact">The sentence for this node, starting with <c>node NAME:</c>.</param>
    public static FilterVerdict Reject(string reason, string fact) => new(reason, fact);
}

/// <summary>
/// A node as a plugin sees it during a placement: the snapshot's record plus what the current plan has already
/// placed on it (free resources and anti-affinity counts are the plan's, not the snapshot's).
/// </summary>
public readonly struct NodeCandidate
{
    private readonly SchedulingPlan _plan;
    private readonly int _index;

    internal NodeCandidate(SchedulingPlan plan, int index)
    {
        _plan = plan;
        _index = index;
    }

    public NodeInfo Node => _plan.Snapshot.Nodes[_index];

    public string Name => Node.Name;

    /// <summary>What is free on the node now, after the plan's earlier placements.</summary>
    public Resources Free => _plan.FreeAt(_index);

    /// <summary>Instances of <paramref name="project"/>'s anti-affinity <paramref name="group"/> on the node, the plan's included.</summary>
    public int CountInGroup(string project, string group) =>
        Node.CountInGroup(project, group) + _plan.AddedInGroup(_index, project, group);
}
