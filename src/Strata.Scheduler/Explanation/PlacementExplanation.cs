namespace Strata.Scheduler;

/// <summary>
/// "Why this node": what a placement looked at and how it decided. Bounded whatever the cluster size: the best
/// <see cref="SchedulerOptions.ExplainCandidates"/> scored nodes, and rejections counted by reason with a few
/// example facts each. Stored with the placement and shown by <c>strata inspect</c>.
/// </summary>
public sealed record PlacementExplanation
{
    /// <summary>The chosen node; null when no node could take the request (see <see cref="Error"/>).</summary>
    public string? Node { get; init; }
    /// <summary><c>binpack</c> or <c>spread</c>.</summary>
    public required string Algorithm { get; init; }
    /// <summary>Nodes in the snapshot.</summary>
    public int Nodes { get; init; }
    /// <summary>Nodes the filters were run on.</summary>
    public int Visited { get; init; }
    /// <summary>Visited nodes that passed every filter (all of them were scored).</summary>
    public int Feasible { get; init; }
    /// <summary>The cap on scored nodes when the cluster is above the sampling threshold; null when every node was considered.</summary>
    public int? SampleSize { get; init; }
    /// <summary>The best scored nodes, best first (the chosen one leads); at most <see cref="SchedulerOptions.ExplainCandidates"/>.</summary>
    public IReadOnlyList<CandidateScore> Candidates { get; init; } = [];
    /// <summary>Rejections grouped by plugin and reason, most frequent first.</summary>
    public IReadOnlyList<RejectionGroup> Rejected { get; init; } = [];
    /// <summary>Why nothing was placed, with the rejections by count; null on success.</summary>
    public string? Error { get; init; }
}

/// <summary>One scored node: the weighted average and each plugin's part of it.</summary>
public sealed record CandidateScore
{
    public required string Node { get; init; }
    /// <summary>Weighted average of <see cref="Scores"/>, 0–100.</summary>
    public double Score { get; init; }
    public IReadOnlyList<PluginScore> Scores { get; init; } = [];
    /// <summary>
    /// When scores counted predicted use (usage histories) rather than declared limits, how: e.g. <c>scored on
    /// predicted use: 2 of 3 instances here have usage histories, so 3.1 cores and 6 GiB are predicted free (their
    /// limits leave 1 core and 2 GiB)</c>. Null when nothing here, nor the request, has a history.
    /// </summary>
    public string? Predicted { get; init; }
}

/// <summary>One score plugin's 0–100 opinion of a node and the weight it counted with.</summary>
public sealed record PluginScore(string Plugin, double Score, int Weight);

/// <summary>
/// Nodes one filter rejected for one reason: how many, and the facts for the first few
/// (<c>node n3: memory 512 MiB free &lt; 1 GiB asked</c>).
/// </summary>
public sealed record RejectionGroup
{
    public required string Plugin { get; init; }
    public required string Reason { get; init; }
    public int Count { get; init; }
    public IReadOnlyList<string> Examples { get; init; } = [];
}
