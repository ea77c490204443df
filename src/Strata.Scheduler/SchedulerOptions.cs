namespace Strata.Scheduler;

/// <summary>Which fitness the default pipeline scores by.</summary>
public enum SchedulingAlgorithm
{
    /// <summary>Fill the fullest feasible node first (Nomad's default).</summary>
    BinPack = 0,
    /// <summary>Place on the emptiest feasible node.</summary>
    Spread = 1,
}

/// <summary>The scheduler's settings; validated once by <see cref="Validate"/> when a <see cref="Scheduler"/> is built.</summary>
public sealed record SchedulerOptions
{
    public SchedulingAlgorithm Algorithm { get; init; } = SchedulingAlgorithm.BinPack;

    /// <summary>
    /// Clusters with more nodes than this score only <c>max(2, ⌈log2 N⌉)</c> feasible nodes per placement
    /// (Nomad's service-job limit); at or below it every feasible node is scored.
    /// </summary>
    public int SamplingThreshold { get; init; } = 100;

    /// <summary>Score plugin weights by plugin name, 0–100 (0 turns a plugin off); unnamed plugins use their default.</summary>
    public IReadOnlyDictionary<string, int> Weights { get; init; } = new Dictionary<string, int>();

    /// <summary>How many scored candidates an explanation lists (the best ones, the chosen node first).</summary>
    public int ExplainCandidates { get; init; } = 10;

    /// <summary>How many node facts an explanation keeps per rejection reason (the rest are only counted).</summary>
    public int ExplainExamples { get; init; } = 3;

    /// <summary>Throws an ArgumentException naming the setting that is out of range.</summary>
    public void Validate()
    {
        if (SamplingThreshold < 0)
        {
            throw new ArgumentException($"SamplingThreshold is {SamplingThreshold}; use 0 or more (0 samples every cluster)", nameof(SamplingThreshold));
        }
        if (ExplainCandidates < 1 || ExplainExamples < 0)
        {
            throw new ArgumentException("ExplainCandidates must be at least 1 and ExplainExamples at least 0", nameof(ExplainCandidates));
        }
        foreach (var (name, weight) in Weights)
        {
            if (weight is < 0 or > 100)
            {
                throw new ArgumentException($"weight of score plugin '{name}' is {weight}; weights run from 0 (off) to 100", nameof(Weights));
            }
        }
    }

    /// <summary>How many feasible nodes a placement scores in a cluster of <paramref name="nodes"/>: all, or max(2, ⌈log2 N⌉).</summary>
    public int SampleSize(int nodes) =>
        nodes <= SamplingThreshold ? int.MaxValue : Math.Max(2, (int)Math.Ceiling(Math.Log2(nodes)));
}
