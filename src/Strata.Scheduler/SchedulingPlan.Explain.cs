using System.Text;

namespace Strata.Scheduler;

/// <summary>Building the bounded "Why this node" explanation of a placement.</summary>
public sealed partial class SchedulingPlan
{
    private PlacementExplanation Explain(PlacementRequest request, RejectionTally tally, int visited, int sample,
        List<Scored> scored, IScorePlugin[] scorers, int[] weights, int best)
    {
        var keep = Math.Min(scored.Count, _scheduler.Options.ExplainCandidates);
        var order = new List<Scored>(keep) { scored[best] };
        if (keep > 1)
        {
            // The next best after the chosen one, ties in visiting order (a stable sort).
            order.AddRange(scored.Where((_, i) => i != best).OrderByDescending(s => s.Score).Take(keep - 1));
        }
        var candidates = new CandidateScore[order.Count];
        for (var c = 0; c < order.Count; c++)
        {
            var parts = new PluginScore[scorers.Length];
            for (var i = 0; i < scorers.Length; i++)
            {
                parts[i] = new PluginScore(scorers[i].Name, Round(order[c].Scores[i]), weights[i]);
            }
            candidates[c] = new CandidateScore { Node = Snapshot.Nodes[order[c].Index].Name, Score = Round(order[c].Score), Scores = parts };
        }
        return new PlacementExplanation
        {
            Node = candidates[0].Node,
            Algorithm = _scheduler.AlgorithmName,
            Nodes = Snapshot.Nodes.Count,
            Visited = visited,
            Feasible = scored.Count,
            SampleSize = sample == int.MaxValue ? null : sample,
            Candidates = candidates,
            Rejected = tally.Groups(),
        };
    }

    private PlacementOutcome Failed(PlacementRequest request, RejectionTally tally, int visited, int sample, string error) =>
        new(request, null, new PlacementExplanation
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

    private static double Round(double score) => Math.Round(score, 2);
}

/// <summary>The result of one placement: the node (null when none fits) and the explanation either way.</summary>
public sealed record PlacementOutcome(PlacementRequest Request, string? Node, PlacementExplanation Explanation)
{
    public bool Placed => Node is not null;

    /// <summary>Why nothing was placed (the rejections by count and what to do); null when placed.</summary>
    public string? Error => Explanation.Error;
}
