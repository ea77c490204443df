using Strata.Rightsizing.Forecasting;

namespace Strata.Rightsizing;

/// <summary>
/// The recommender's constants. Defaults are Kubernetes VPA's (recommender flags and aggregations config) except the
/// memory floor, which is sized for Strata's small workloads (see docs/rightsizing.md).
/// </summary>
public sealed record RecommenderOptions
{
    /// <summary>Decay half-life of both histograms (VPA: 24 h).</summary>
    public TimeSpan HalfLife { get; init; } = TimeSpan.FromHours(24);

    /// <summary>Memory keeps one peak per interval (VPA: 24 h) ...</summary>
    public TimeSpan MemoryPeakInterval { get; init; } = TimeSpan.FromHours(24);

    /// <summary>... for this many intervals (VPA: 8, so weekly peaks are seen).</summary>
    public int MemoryPeakIntervals { get; init; } = 8;

    /// <summary>The smallest weight a CPU sample gets (VPA's minSampleWeight), so idle samples still count.</summary>
    public double MinCpuSampleWeight { get; init; } = 0.1;

    public double TargetPercentile { get; init; } = 0.90;

    public double LowerPercentile { get; init; } = 0.50;

    public double UpperPercentile { get; init; } = 0.95;

    /// <summary>Safety margin on every bound (VPA's recommendation-margin-fraction).</summary>
    public double Margin { get; init; } = 0.15;

    /// <summary>CPU floor in cores (VPA: 25 millicores).</summary>
    public double CpuFloorCores { get; init; } = 0.025;

    /// <summary>Memory floor in bytes: 32 MiB, not VPA's 250 MiB (a Strata wasm or process instance often needs a few MiB).</summary>
    public double MemoryFloorBytes { get; init; } = 32L << 20;

    /// <summary>The sampling interval the daemon uses; with the span, it decides how many days of history there are.</summary>
    public TimeSpan SampleInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>An OOM kill is recorded as a memory peak of the limit times this (VPA: 1.2).</summary>
    public double OomBumpRatio { get; init; } = 1.2;

    public ForecastOptions Forecast { get; init; } = new();

    /// <summary>Throws an ArgumentException naming the setting that is out of range.</summary>
    public void Validate()
    {
        if (HalfLife <= TimeSpan.Zero || MemoryPeakInterval <= TimeSpan.Zero || SampleInterval <= TimeSpan.Zero)
        {
            throw new ArgumentException("HalfLife, MemoryPeakInterval and SampleInterval must be positive", nameof(HalfLife));
        }
        if (MemoryPeakIntervals is < 1 or > 64)
        {
            throw new ArgumentException($"MemoryPeakIntervals is {MemoryPeakIntervals}; use 1 to 64", nameof(MemoryPeakIntervals));
        }
        if (!(LowerPercentile is > 0 and <= 1) || !(TargetPercentile >= LowerPercentile && TargetPercentile <= UpperPercentile && UpperPercentile <= 1))
        {
            throw new ArgumentException($"percentiles must satisfy 0 < lower ({LowerPercentile}) ≤ target ({TargetPercentile}) ≤ upper ({UpperPercentile}) ≤ 1", nameof(TargetPercentile));
        }
        if (!(Margin >= 0) || !(CpuFloorCores >= 0) || !(MemoryFloorBytes >= 0) || !(MinCpuSampleWeight > 0) || !(OomBumpRatio > 1))
        {
            throw new ArgumentException("Margin, floors and MinCpuSampleWeight must not be negative (the weight positive), and OomBumpRatio must be above 1", nameof(Margin));
        }
        Forecast.Validate();
    }
}
