namespace Strata.Rightsizing.Histograms;

/// <summary>
/// The stored form of a <see cref="DecayingHistogram"/>: only its non-empty buckets (at most the layout's bucket
/// count), weights relative to <see cref="Reference"/>. Versioned: a reader refuses versions it does not know.
/// </summary>
public sealed record HistogramState
{
    /// <summary>The format this library writes.</summary>
    public const int CurrentVersion = 1;

    public int Version { get; init; } = CurrentVersion;

    /// <summary>The time the weights are relative to (a sample at this time weighs its own weight).</summary>
    public DateTimeOffset Reference { get; init; }

    /// <summary>Non-empty buckets in ascending index order.</summary>
    public IReadOnlyList<HistogramBucket> Buckets { get; init; } = [];
}

/// <summary>One non-empty bucket of a stored histogram.</summary>
public sealed record HistogramBucket(int Index, double Weight);
