using System.Text;

namespace Strata.Scheduler;

/// <summary>Keeping what explains a placement: the best candidates (bounded) and the rejections by reason.</summary>
public sealed partial class SchedulingPlan
{
    /// <summary>
    /// The best <see cref="SchedulerOptions.ExplainCandidates"/> scored nodes, best first; ties keep visiting order,
    /// so the first is the pick. A partial selection (O(feasible × kept)), not a sort of every feasible node.
    /// </summary>
    private ExplanationDraft Draft(PlacementRequest request, RejectionTally tally, int visited, int sample, IScorePlugin[] scorers, int[] weights)
    {
        var keep = Math.Min(_scored.Count, _scheduler.Options.ExplainCandidates);
        var top = new int[keep]; // positions in _scored
        var kept = 0;
        for (var i = 0; i < _scored.Count; i++)
        {
            var score = _scored[i].Score;
            if (kept == keep && score <= _scored[top[kept - 1]].Score)
            {
                continue;
            }
            var at = kept == keep ? keep - 1 : kept++;
            while (at > 0 && _scored[top[at - 1]].Score < score)
            {
                top[at] = top[at - 1];
                at--;
            }
            top[at] = i;
        }
        var nodes = new int[keep];
        var totals = new double[keep];
        var parts = new double[keep * scorers.Length];
        var predicted = _anyPredicted || request.Predicted is not null;
        var free = predicted ? new Resources[keep] : [];
        var predictedFree = predicted ? new Resources[keep] : [];
        for (var c = 0; c < keep; c++)
        {
            var s = _scored[top[c]];
            nodes[c] = s.Index;
            if (predicted)
            {
                free[c] = _free[s.Index];
                predictedFree[c] = _predictedFree[s.Index];
            }
            totals[c] = s.Score;
            Array.Copy(_scores, top[c] * scorers.Length, parts, c * scorers.Length, scorers.Length);
        }
        return new ExplanationDraft
        {
            Algorithm = _scheduler.AlgorithmName,
            Snapshot = Snapshot,
            Nodes = nodes,
            Totals = totals,
            PluginScores = parts,
            Scorers = scorers,
            Weights = weights,
            Tally = tally,
            Free = free,
            PredictedFree = predictedFree,
            Asked = request.Resources,
            AskedPredicted = request.Predicted,
            Visited = visited,
            Feasible = _scored.Count,
            SampleSize = sample == int.MaxValue ? null : sample,
        };
    }

    private PlacementOutcome Failed(PlacementRequest request, RejectionTally tally, int visited, int sample, string error) =>
        new(request, new PlacementExplanation
        {
            Algorithm = _scheduler.AlgorithmName,
            Nodes = Snapshot.Nodes.Count,
            Visited = visited,
            SampleSize = sample == int.MaxValue ? null : sample,
            Rejected = tally.Groups(),
            Error = error,
        });

    /// <summary>
    /// "no node can take instance 'web' (tier container; cpu 2 cores, memory 1 GiB): all 10 nodes rejected — 6 by
    /// capacity (memory), e.g. node n3: memory 512 MiB free &lt; 1 GiB asked; 4 by tier (…)" and what to do.
    /// </summary>
    private static string NoNodeError(PlacementRequest request, RejectionTally tally, int nodes)
    {
        var ask = request.Resources;
        var text = new StringBuilder()
            .Append("no node can take ").Append(Scheduler.Describe(request))
            .Append(" (tier ").Append(request.Tier)
            .Append("; cpu ").Append(Resources.Cpu(ask.CpuMillis))
            .Append(", memory ").Append(Resources.Bytes(ask.MemoryBytes));
        if (ask.DiskBytes > 0)
        {
            text.Append(", disk ").Append(Resources.Bytes(ask.DiskBytes));
        }
        if (ask.Pids > 0)
        {
            text.Append(", pids ").Append(ask.Pids);
        }
        text.Append("): ");
        if (nodes == 0)
        {
            return text.Append("the cluster has no nodes; start stratad with --cluster on a host to add one").ToString();
        }
        text.Append(nodes == 1 ? "the only node was rejected" : $"all {nodes} nodes rejected");
        var separator = " — ";
        foreach (var group in tally.Groups())
        {
            text.Append(separator).Append(group.Count).Append(" by ").Append(group.Plugin).Append(" (").Append(group.Reason).Append(')');
            if (group.Examples.Count > 0)
            {
                text.Append(", e.g. ").Append(group.Examples[0]);
            }
            separator = "; ";
        }
        return text.Append(". Free capacity, add a node, or relax --node, --constraint, the anti-affinity group or the project's restrictions.").ToString();
    }
}

/// <summary>The result of one placement: the node (null when none fits) and the explanation either way.</summary>
public sealed class PlacementOutcome
{
    private ExplanationDraft? _draft;
    private PlacementExplanation? _explanation;

    internal PlacementOutcome(PlacementRequest request, string node, ExplanationDraft draft)
    {
        Request = request;
        Node = node;
        _draft = draft;
    }

    internal PlacementOutcome(PlacementRequest request, PlacementExplanation failure)
    {
        Request = request;
        _explanation = failure;
    }

    public PlacementRequest Request { get; }

    /// <summary>The chosen node; null when no node could take the request.</summary>
    public string? Node { get; }

    public bool Placed => Node is not null;

    /// <summary>"Why this node" (built on first read, then kept).</summary>
    public PlacementExplanation Explanation
    {
        get
        {
            if (_explanation is null)
            {
                _explanation = _draft!.Build();
                _draft = null;
            }
            return _explanation;
        }
    }

    /// <summary>Why nothing was placed (the rejections by count and what to do); null when placed.</summary>
    public string? Error => Node is null ? Explanation.Error : null;
}
