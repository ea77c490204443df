namespace Strata.Scheduler;

/// <summary>
/// What a successful placement keeps to explain itself: the best candidates' plugin scores and the rejection tally,
/// as plain arrays. The <see cref="PlacementExplanation"/> records are built only when someone reads them, so a
/// batch of 100,000 placements does not pay for 100,000 object graphs nobody looks at.
/// </summary>
internal sealed class ExplanationDraft
{
    public required string Algorithm { get; init; }
    public required ClusterSnapshot Snapshot { get; init; }
    public required int[] Nodes { get; init; }
    public required double[] Totals { get; init; }
    /// <summary>Row-major: candidate c's score from plugin p is at <c>c × plugins + p</c>.</summary>
    public required double[] PluginScores { get; init; }
    public required IScorePlugin[] Scorers { get; init; }
    public required int[] Weights { get; init; }
    public required RejectionTally Tally { get; init; }
    /// <summary>Per kept candidate, what was free by limits and by prediction when it was scored; empty when nothing had a history.</summary>
    public required Resources[] Free { get; init; }
    public required Resources[] PredictedFree { get; init; }
    public Resources Asked { get; init; }
    public Resources? AskedPredicted { get; init; }
    public int Visited { get; init; }
    public int Feasible { get; init; }
    public int? SampleSize { get; init; }

    public PlacementExplanation Build()
    {
        var candidates = new CandidateScore[Nodes.Length];
        for (var c = 0; c < Nodes.Length; c++)
        {
            var parts = new PluginScore[Scorers.Length];
            for (var p = 0; p < Scorers.Length; p++)
            {
                parts[p] = new PluginScore(Scorers[p].Name, Round(PluginScores[(c * Scorers.Length) + p]), Weights[p]);
            }
            var node = Snapshot.NodeAt(Nodes[c]);
            candidates[c] = new CandidateScore { Node = node.Name, Score = Round(Totals[c]), Scores = parts, Predicted = Free.Length == 0 ? null : PredictedSentence(node, Free[c], PredictedFree[c]) };
        }
        return new PlacementExplanation
        {
            Node = candidates[0].Node,
            Algorithm = Algorithm,
            Nodes = Snapshot.Nodes.Count,
            Visited = Visited,
            Feasible = Feasible,
            SampleSize = SampleSize,
            Candidates = candidates,
            Rejected = Tally.Groups(),
        };
    }

    internal static double Round(double score) => Math.Round(score, 2);

    private string? PredictedSentence(NodeInfo node, Resources free, Resources predictedFree)
    {
        if (node.PredictedInstances == 0 && AskedPredicted is null)
        {
            return null;
        }
        var text = new System.Text.StringBuilder("scored on predicted use: ");
        if (node.PredictedInstances > 0)
        {
            text.Append(node.PredictedInstances).Append(" of ").Append(node.Instances.Count)
                .Append(node.Instances.Count == 1 ? " instance here has a usage history, so " : " instances here have usage histories, so ")
                .Append(Resources.Cpu(predictedFree.CpuMillis)).Append(" and ").Append(Resources.Bytes(predictedFree.MemoryBytes))
                .Append(" are predicted free (their limits leave ").Append(Resources.Cpu(free.CpuMillis)).Append(" and ")
                .Append(Resources.Bytes(free.MemoryBytes)).Append(')');
        }
        else
        {
            text.Append("no instance here has a usage history, so its free resources are its limits' (")
                .Append(Resources.Cpu(free.CpuMillis)).Append(" and ").Append(Resources.Bytes(free.MemoryBytes)).Append(')');
        }
        if (AskedPredicted is { } p)
        {
            text.Append("; this instance is predicted to use ").Append(Resources.Cpu(p.CpuMillis)).Append(" and ").Append(Resources.Bytes(p.MemoryBytes))
                .Append(" of the ").Append(Resources.Cpu(Asked.CpuMillis)).Append(" and ").Append(Resources.Bytes(Asked.MemoryBytes)).Append(" it asks");
        }
        return text.ToString();
    }
}
