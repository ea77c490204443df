using Strata.Scheduler.Filters;
using Strata.Scheduler.Scoring;

namespace Strata.Scheduler;

/// <summary>
/// The placement pipeline, pure (no I/O, no clock, randomness only from a seed): <b>filter</b> (may this node take
/// the request at all?) → <b>score</b> (weighted average of the score plugins, 0–100) → <b>pick</b> the best.
/// Above <see cref="SchedulerOptions.SamplingThreshold"/> nodes only max(2, ⌈log2 N⌉) feasible nodes are scored.
/// <para>
/// A <see cref="SchedulingPlan"/> places a batch against one snapshot, counting what it has placed so far;
/// <see cref="Verify"/> checks the plan against a newer snapshot before it is committed, rejecting the nodes that
/// changed and no longer fit (Nomad's plan-queue rejection).
/// </para>
/// </summary>
public sealed class Scheduler
{
    private readonly Dictionary<IScorePlugin, int> _weights;
    // The plugins that apply to a request depend only on which AppliesTo answered true: one array per answer set,
    // built on first use (a benign race: two threads may build the same array).
    private readonly IFilterPlugin[]?[]? _filterSets;
    private readonly ScorerSet?[]? _scorerSets;

    public Scheduler(SchedulerOptions? options = null, IEnumerable<IFilterPlugin>? filters = null, IEnumerable<IScorePlugin>? scorers = null)
    {
        Options = options ?? new SchedulerOptions();
        Options.Validate();
        Filters = filters is null ? DefaultFilters() : [.. filters];
        Scorers = scorers is null ? DefaultScorers(Options.Algorithm) : [.. scorers];
        CheckUniqueNames(Filters.Select(f => f.Name), "filter");
        CheckUniqueNames(Scorers.Select(s => s.Name), "score");
        var known = Scorers.Select(s => s.Name).Concat([BinPackScore.PluginName, SpreadScore.PluginName, AntiAffinityScore.PluginName]).ToHashSet(StringComparer.Ordinal);
        foreach (var name in Options.Weights.Keys)
        {
            if (!known.Contains(name))
            {
                throw new ArgumentException($"weight given for '{name}', which is no score plugin; the score plugins are {string.Join(", ", known.Order(StringComparer.Ordinal))}", nameof(options));
            }
        }
        _weights = Scorers.ToDictionary(s => s, s => Options.Weights.TryGetValue(s.Name, out var w) ? w : s.DefaultWeight);
        _filterSets = Filters.Count <= MaxCachedPlugins ? new IFilterPlugin[]?[1 << Filters.Count] : null;
        _scorerSets = Scorers.Count <= MaxCachedPlugins ? new ScorerSet?[1 << Scorers.Count] : null;
    }

    public SchedulerOptions Options { get; }

    /// <summary>The filters, in the order they run (cheap and decisive first).</summary>
    public IReadOnlyList<IFilterPlugin> Filters { get; }

    public IReadOnlyList<IScorePlugin> Scorers { get; }

    /// <summary><c>binpack</c> or <c>spread</c>, as explanations name it.</summary>
    public string AlgorithmName => Options.Algorithm == SchedulingAlgorithm.Spread ? SpreadScore.PluginName : BinPackScore.PluginName;

    public static IReadOnlyList<IFilterPlugin> DefaultFilters() =>
    [
        new NodeStateFilter(),
        new CapacityFilter(), // right after the state: late in a fill most visited nodes are full, and this is cheap
        new PinFilter(),
        new ProjectRestrictionFilter(),
        new TierFilter(),
        new ArchFilter(),
        new ConstraintFilter(),
        new AntiAffinityFilter(),
    ];

    public static IReadOnlyList<IScorePlugin> DefaultScorers(SchedulingAlgorithm algorithm) =>
    [
        algorithm == SchedulingAlgorithm.Spread ? new SpreadScore() : new BinPackScore(),
        new AntiAffinityScore(),
    ];

    /// <summary>The weight <paramref name="scorer"/> counts with (0–100).</summary>
    public int WeightOf(IScorePlugin scorer) => _weights.GetValueOrDefault(scorer);

    /// <summary>A plan over <paramref name="snapshot"/>; the seed fixes the order nodes are visited in.</summary>
    public SchedulingPlan CreatePlan(ClusterSnapshot snapshot, int seed) => new(this, snapshot, new Random(seed));

    /// <summary>A plan whose visiting order comes from an injected source of randomness.</summary>
    public SchedulingPlan CreatePlan(ClusterSnapshot snapshot, Random random) => new(this, snapshot, random);

    /// <summary>Places one request on <paramref name="snapshot"/> (a one-placement plan).</summary>
    public PlacementOutcome Place(ClusterSnapshot snapshot, PlacementRequest request, int seed) =>
        CreatePlan(snapshot, seed).Place(request);

    /// <summary>
    /// Checks <paramref name="plan"/> against <paramref name="newer"/>, node by node. A node whose version is the one
    /// the plan saw keeps all its placements. A node that changed is re-checked with every filter, its placements
    /// counted together; if any no longer fits (or the node is gone), all of that node's placements are rejected and
    /// must be planned again. The other nodes' placements stand (a partial commit, as Nomad's plan applier does).
    /// </summary>
    public PlanVerification Verify(SchedulingPlan plan, ClusterSnapshot newer)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(newer);
        var check = new SchedulingPlan(this, newer, new Random(0));
        var accepted = new List<PlannedPlacement>();
        var rejected = new List<RejectedPlacement>();
        foreach (var onNode in plan.Placements.GroupBy(p => p.Node, StringComparer.Ordinal))
        {
            var index = newer.IndexOf(onNode.Key);
            var seen = onNode.First().NodeVersion;
            string? failure = null;
            if (index < 0)
            {
                failure = $"node {onNode.Key} is no longer in the cluster";
            }
            else if (newer.NodeAt(index).Version != seen)
            {
                foreach (var placement in onNode)
                {
                    if (check.FirstRejection(index, placement.Request) is { } fact)
                    {
                        failure = $"node {onNode.Key} changed since the plan (version {seen} → {newer.NodeAt(index).Version}) and no longer fits {Describe(placement.Request)}: {fact}";
                        break;
                    }
                    check.Commit(index, placement.Request, placement.Score);
                }
            }
            if (failure is null)
            {
                accepted.AddRange(onNode);
            }
            else
            {
                rejected.AddRange(onNode.Select(p => new RejectedPlacement(p, failure)));
            }
        }
        return new PlanVerification(accepted, rejected);
    }

    private const int MaxCachedPlugins = 12;

    /// <summary>The filters that apply to <paramref name="request"/>, in order.</summary>
    internal IFilterPlugin[] ActiveFilters(PlacementRequest request)
    {
        if (_filterSets is null)
        {
            return [.. Filters.Where(f => f.AppliesTo(request))];
        }
        var mask = 0;
        for (var i = 0; i < Filters.Count; i++)
        {
            mask |= Filters[i].AppliesTo(request) ? 1 << i : 0;
        }
        return _filterSets[mask] ??= [.. Filters.Where((_, i) => (mask & (1 << i)) != 0)];
    }

    /// <summary>The score plugins with a weight above 0 that apply to <paramref name="request"/>, and their weights.</summary>
    internal ScorerSet ActiveScorers(PlacementRequest request)
    {
        var mask = 0;
        for (var i = 0; i < Scorers.Count && i < 31; i++)
        {
            mask |= WeightOf(Scorers[i]) > 0 && Scorers[i].AppliesTo(request) ? 1 << i : 0;
        }
        if (_scorerSets is not null && _scorerSets[mask] is { } cached)
        {
            return cached;
        }
        IScorePlugin[] active = [.. Scorers.Where(s => WeightOf(s) > 0 && s.AppliesTo(request))];
        var set = new ScorerSet(active, [.. active.Select(WeightOf)]);
        if (_scorerSets is not null)
        {
            _scorerSets[mask] = set;
        }
        return set;
    }

    /// <summary>"instance 'web-1'" or "the instance" when it has no name yet.</summary>
    internal static string Describe(PlacementRequest request) =>
        request.Name.Length > 0 ? $"instance '{request.Name}'" : "the instance";

    private static void CheckUniqueNames(IEnumerable<string> names, string kind)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in names)
        {
            if (!seen.Add(name))
            {
                throw new ArgumentException($"two {kind} plugins are named '{name}'; explanations and weights name plugins, so names are unique");
            }
        }
    }

    internal sealed record ScorerSet(IScorePlugin[] Plugins, int[] Weights);
}
