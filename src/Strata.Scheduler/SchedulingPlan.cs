using Strata.Scheduler.Filters;

namespace Strata.Scheduler;

/// <summary>
/// A batch of placements against one snapshot. Each placement sees the free resources and anti-affinity counts the
/// plan's earlier placements left, so a batch never overfills a node; the snapshot itself is never changed. The plan
/// walks the nodes in a seeded order and keeps its position between placements (see <see cref="NodeOrder"/>).
/// Not thread-safe: one plan belongs to one scheduling worker.
/// </summary>
public sealed partial class SchedulingPlan
{
    private readonly Scheduler _scheduler;
    private readonly Resources[] _free;
    private readonly NodeOrder _order;
    private readonly List<PlannedPlacement> _placements = [];
    private Dictionary<(int Node, string Project, string Group), int>? _groups;
    private long _step;

    internal SchedulingPlan(Scheduler scheduler, ClusterSnapshot snapshot, Random random)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        ArgumentNullException.ThrowIfNull(random);
        _scheduler = scheduler;
        Snapshot = snapshot;
        _free = new Resources[snapshot.Nodes.Count];
        for (var i = 0; i < _free.Length; i++)
        {
            _free[i] = snapshot.Nodes[i].Free;
        }
        _order = new NodeOrder(snapshot.Nodes.Count, random);
    }

    public ClusterSnapshot Snapshot { get; }

    /// <summary>Everything placed so far, in order.</summary>
    public IReadOnlyList<PlannedPlacement> Placements => _placements;

    /// <summary>What is free on node <paramref name="name"/> after the plan's placements so far.</summary>
    public Resources FreeOn(string name)
    {
        var index = Snapshot.IndexOf(name);
        return index >= 0 ? _free[index] : throw new ArgumentException($"node '{name}' is not in the snapshot", nameof(name));
    }

    internal Resources FreeAt(int index) => _free[index];

    internal int AddedInGroup(int index, string project, string group) =>
        _groups is null ? 0 : _groups.GetValueOrDefault((index, project, group));

    /// <summary>Places each request in turn; one that fits nowhere is reported and the rest go on.</summary>
    public IReadOnlyList<PlacementOutcome> PlaceAll(IEnumerable<PlacementRequest> requests) => [.. requests.Select(Place)];

    /// <summary>Filters, scores and picks a node for <paramref name="request"/>, and records it in the plan.</summary>
    public PlacementOutcome Place(PlacementRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var filters = Active(_scheduler.Filters, request);
        var scorers = ActiveScorers(request, out var weights);
        var nodes = Snapshot.Nodes.Count;
        var sample = _scheduler.Options.SampleSize(nodes);
        var tally = new RejectionTally(_scheduler.Options.ExplainExamples);
        var scored = new List<Scored>(Math.Min(nodes, Math.Min(sample, 64)));
        var visited = 0;
        if (request.Node is { } pinned)
        {
            var index = Snapshot.IndexOf(pinned);
            if (index < 0)
            {
                return Failed(request, tally, 0, sample,
                    $"no node can take {Scheduler.Describe(request)}: node {pinned} (--node) is not in the cluster; strata node ls lists the nodes");
            }
            // Only the pinned node can pass: the others are counted, not visited.
            if (nodes > 1)
            {
                tally.Add(PinFilter.PluginName, "not the pinned node", null, nodes - 1);
            }
            visited = 1;
            Visit(index, request, filters, scorers, weights, tally, scored);
        }
        else
        {
            while (visited < nodes && scored.Count < sample)
            {
                Visit(_order.At(_step++), request, filters, scorers, weights, tally, scored);
                visited++;
            }
        }
        if (scored.Count == 0)
        {
            return Failed(request, tally, visited, sample, NoNodeError(request, tally, nodes));
        }
        var best = 0;
        for (var i = 1; i < scored.Count; i++)
        {
            if (scored[i].Score > scored[best].Score)
            {
                best = i; // strictly greater: ties go to the node visited first
            }
        }
        Commit(scored[best].Index, request, scored[best].Score);
        return new PlacementOutcome(request, Snapshot.Nodes[scored[best].Index].Name, Explain(request, tally, visited, sample, scored, scorers, weights, best));
    }

    /// <summary>The first filter that rejects node <paramref name="index"/> for <paramref name="request"/> now, or null.</summary>
    internal FilterVerdict? FirstRejection(int index, PlacementRequest request)
    {
        var candidate = new NodeCandidate(this, index);
        foreach (var filter in _scheduler.Filters)
        {
            if (filter.AppliesTo(request))
            {
                var verdict = filter.Filter(candidate, request);
                if (!verdict.Passed)
                {
                    return verdict;
                }
            }
        }
        return null;
    }

    internal void Commit(int index, PlacementRequest request, double score)
    {
        _free[index] -= request.Resources;
        if (request.AntiAffinity is { } affinity)
        {
            _groups ??= [];
            var key = (index, request.Project, affinity.Group);
            _groups[key] = _groups.GetValueOrDefault(key) + 1;
        }
        var node = Snapshot.Nodes[index];
        _placements.Add(new PlannedPlacement(request, node.Name, node.Version, score));
    }

    private void Visit(int index, PlacementRequest request, IFilterPlugin[] filters, IScorePlugin[] scorers, int[] weights, RejectionTally tally, List<Scored> scored)
    {
        var candidate = new NodeCandidate(this, index);
        foreach (var filter in filters)
        {
            var verdict = filter.Filter(candidate, request);
            if (!verdict.Passed)
            {
                tally.Add(filter.Name, verdict);
                return;
            }
        }
        var scores = new double[scorers.Length];
        double sum = 0;
        var weightSum = 0;
        for (var i = 0; i < scorers.Length; i++)
        {
            scores[i] = Math.Clamp(scorers[i].Score(candidate, request), 0, 100);
            sum += scores[i] * weights[i];
            weightSum += weights[i];
        }
        scored.Add(new Scored(index, weightSum > 0 ? sum / weightSum : 0, scores));
    }

    private static IFilterPlugin[] Active(IReadOnlyList<IFilterPlugin> filters, PlacementRequest request)
    {
        var count = 0;
        var active = new IFilterPlugin[filters.Count];
        foreach (var filter in filters)
        {
            if (filter.AppliesTo(request))
            {
                active[count++] = filter;
            }
        }
        return count == active.Length ? active : active[..count];
    }

    private IScorePlugin[] ActiveScorers(PlacementRequest request, out int[] weights)
    {
        var active = new List<IScorePlugin>(_scheduler.Scorers.Count);
        foreach (var scorer in _scheduler.Scorers)
        {
            if (_scheduler.WeightOf(scorer) > 0 && scorer.AppliesTo(request))
            {
                active.Add(scorer);
            }
        }
        weights = [.. active.Select(_scheduler.WeightOf)];
        return [.. active];
    }

    private readonly record struct Scored(int Index, double Score, double[] Scores);
}
