using Strata.Rightsizing.Forecasting;
using Strata.Rightsizing.Histograms;

namespace Strata.Rightsizing;

/// <summary>
/// The stored form of an instance's <see cref="UsageHistory"/>: two histograms of at most 176 buckets each, at most
/// <see cref="RecommenderOptions.MemoryPeakIntervals"/> peaks and the forecaster's few seasons of slots, so a few KiB
/// of JSON per instance whatever its age. Versioned.
/// </summary>
public sealed record UsageHistoryState
{
    public const int CurrentVersion = 1;

    public int Version { get; init; } = CurrentVersion;

    public long Samples { get; init; }

    public long OomKills { get; init; }

    public DateTimeOffset? FirstSample { get; init; }

    public DateTimeOffset? LastSample { get; init; }

    public required HistogramState Cpu { get; init; }

    public required HistogramState Memory { get; init; }

    /// <summary>One peak per interval, oldest first; the last is the interval still open.</summary>
    public IReadOnlyList<MemoryPeak> MemoryPeaks { get; init; } = [];

    /// <summary>The recent mean CPU use (for the slack).</summary>
    public DecayingMeanState CpuMean { get; init; } = new();

    /// <summary>The recent mean memory use (for the slack).</summary>
    public DecayingMeanState MemoryMean { get; init; } = new();

    public required ForecasterState Forecast { get; init; }
}

/// <summary>The highest memory use seen in one interval, when it was seen, and when the interval started.</summary>
public sealed record MemoryPeak(DateTimeOffset IntervalStart, DateTimeOffset Time, double Bytes);
