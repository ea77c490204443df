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
    private readonly Resources[] _predictedFree;
    // Whether any node has an instance with a usage history: only then do explanations keep what was predicted free.
    private readonly bool _anyPredicted;
    private readonly NodeOrder _order;
    private readonly List<PlannedPlacement> _placements = [];
    // Reused by every placement: the feasible nodes found and their plugin scores (row-major).
    private readonly List<Scored> _scored = [];
    private double[] _scores = new double[64];
    private Dictionary<(int Node, string Project, string Group), int>? _groups;

    internal SchedulingPlan(Scheduler scheduler, ClusterSnapshot snapshot, Random random)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        ArgumentNullException.ThrowIfNull(random);
        _scheduler = scheduler;
        Snapshot = snapshot;
        _free = new Resources[snapshot.Nodes.Count];
        _predictedFree = new Resources[snapshot.Nodes.Count];
        for (var i = 0; i < _free.Length; i++)
        {
            _free[i] = snapshot.NodeAt(i).Free;
            _predictedFree[i] = snapshot.NodeAt(i).PredictedFree;
            _anyPredicted |= snapshot.NodeAt(i).PredictedInstances > 0;
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

    internal Resources PredictedFreeAt(int index) => _predictedFree[index];

    internal int AddedInGroup(int index, string project, string group) =>
        _groups is null ? 0 : _groups.GetValueOrDefault((index, project, group));

    /// <summary>Places each request in turn; one that fits nowhere is reported and the rest go on.</summary>
    public IReadOnlyList<PlacementOutcome> PlaceAll(IEnumerable<PlacementRequest> requests) => [.. requests.Select(Place)];

    /// <summary>Filters, scores and picks a node for <paramref name="request"/>, and records it in the plan.</summary>
    public PlacementOutcome Place(PlacementRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var ask = request.Resources;
        if (ask.CpuMillis < 0 || ask.MemoryBytes < 0 || ask.DiskBytes < 0 || ask.Pids < 0)
        {
            throw new ArgumentException($"{Scheduler.Describe(request)} asks for {ask}; every resource must be 0 or more", nameof(request));
        }
        var filters = _scheduler.ActiveFilters(request);
        var (scorers, weights) = _scheduler.ActiveScorers(request);
        var nodes = Snapshot.Nodes.Count;
        var sample = _scheduler.Options.SampleSize(nodes);
        var tally = new RejectionTally(_scheduler.Options.ExplainExamples, request);
        _scored.Clear();
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
                tally.AddUnvisited(PinFilter.PluginName, PinFilter.NotPinned, nodes - 1);
            }
            visited = 1;
            Visit(index, request, filters, scorers, weights, tally);
        }
        else
        {
            while (visited < nodes && _scored.Count < sample)
            {
                Visit(_order.Next(), request, filters, scorers, weights, tally);
                visited++;
            }
        }
        if (_scored.Count == 0)
        {
            return Failed(request, tally, visited, sample, NoNodeError(request, tally, nodes));
        }
        var draft = Draft(request, tally, visited, sample, scorers, weights);
        var chosen = draft.Nodes[0];
        Commit(chosen, request, draft.Totals[0]);
        return new PlacementOutcome(request, Snapshot.NodeAt(chosen).Name, draft);
    }

    /// <summary>The first filter that rejects node <paramref name="index"/> for <paramref name="request"/> now, as its fact; or null.</summary>
    internal string? FirstRejection(int index, PlacementRequest request)
    {
        var candidate = new NodeCandidate(this, index);
        foreach (var filter in _scheduler.Filters)
        {
            if (filter.AppliesTo(request) && filter.Reject(candidate, request) is { } reason)
            {
                return filter.Explain(candidate, request, reason);
            }
        }
        return null;
    }

    internal void Commit(int index, PlacementRequest request, double score)
    {
        _free[index] -= request.Resources;
        _predictedFree[index] -= request.Predicted ?? request.Resources;
        if (request.AntiAffinity is { } affinity)
        {
            _groups ??= [];
            var key = (index, request.Project, affinity.Group);
            _groups[key] = _groups.GetValueOrDefault(key) + 1;
        }
        var node = Snapshot.NodeAt(index);
        _placements.Add(new PlannedPlacement(request, node.Name, node.Version, score));
    }

    private void Visit(int index, PlacementRequest request, IFilterPlugin[] filters, IScorePlugin[] scorers, int[] weights, RejectionTally tally)
    {
        var candidate = new NodeCandidate(this, index);
        foreach (var filter in filters)
        {
            if (filter.Reject(candidate, request) is { } reason)
            {
                tally.Add(filter, reason, candidate);
                return;
            }
        }
        var offset = _scored.Count * scorers.Length;
        if (offset + scorers.Length > _scores.Length)
        {
            Array.Resize(ref _scores, Math.Max(_scores.Length * 2, offset + scorers.Length));
        }
        double sum = 0;
        var weightSum = 0;
        for (var i = 0; i < scorers.Length; i++)
        {
            var score = Math.Clamp(scorers[i].Score(candidate, request), 0, 100);
            _scores[offset + i] = score;
            sum += score * weights[i];
            weightSum += weights[i];
        }
        _scored.Add(new Scored(index, weightSum > 0 ? sum / weightSum : 0));
    }

    private readonly record struct Scored(int Index, double Score);
}
