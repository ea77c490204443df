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
            candidates[c] = new CandidateScore { Node = Snapshot.NodeAt(Nodes[c]).Name, Score = Round(Totals[c]), Scores = parts };
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
}
