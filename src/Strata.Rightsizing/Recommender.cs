using Strata.Rightsizing.Forecasting;

namespace Strata.Rightsizing;

/// <summary>
/// Turns a <see cref="UsageHistory"/> into a recommendation, as VPA's recommender does: target = p90 × (1 + margin),
/// lower bound p50 and upper bound p95 with the same margin, the bounds widened while the history is short
/// (upper × (1 + 1/days), lower × (1 + 0.001/days)^−2), floors, memory never below the observed peak plus margin,
/// and a forecast that raises the memory target when growth would eat the margin within the horizon. Pure.
/// </summary>
public sealed partial class Recommender
{
    public Recommender(RecommenderOptions? options = null)
    {
        Options = options ?? new RecommenderOptions();
        Options.Validate();
    }

    public RecommenderOptions Options { get; }

    /// <summary>A new, empty history with this recommender's options.</summary>
    public UsageHistory NewHistory() => new(Options);

    /// <summary>The numbers only (no sentences): cheap enough for every sample.</summary>
    public Estimate Estimate(UsageHistory history) => Compute(history).Estimate;

    /// <summary>The full recommendation for an instance with <paramref name="current"/> limits.</summary>
    public Recommendation Recommend(UsageHistory history, ResourceLimits current)
    {
        var f = Compute(history);
        var e = f.Estimate;
        return new Recommendation
        {
            Current = current,
            Cpu = e.Cpu,
            Memory = e.Memory,
            SlackToday = new SlackFigures(Slack(current.CpuCores, history.MeanCpu), Slack(current.MemoryBytes, history.MeanMemory)),
            SlackAfter = new SlackFigures(Slack(e.Cpu.Target, history.MeanCpu), Slack(e.Memory.Target, history.MeanMemory)),
            Samples = history.Samples,
            OomKills = history.OomKills,
            HistoryHours = history.Span.TotalHours,
            Explanation = Explain(history, current, f),
        };
    }

    /// <summary>The confidence factors VPA applies for <paramref name="days"/> of history: (upper, lower).</summary>
    public static (double Upper, double Lower) ConfidenceFactors(double days)
    {
        // No history at all would be an infinite upper bound; one minute is the shortest history counted.
        days = Math.Max(days, 1.0 / 1440);
        return (1 + (1 / days), Math.Pow(1 + (0.001 / days), -2));
    }

    private static double CapAt(double percentile, double peak) => peak > 0 ? Math.Min(percentile, peak) : percentile;

    private static double Slack(double limit, double use) => limit > 0 ? (limit - use) / limit : 0;

    // Days of history for the confidence: the span, but no more than the samples cover (VPA counts both).
    private double ConfidenceDays(UsageHistory history) =>
        Math.Min(history.Span.TotalDays, history.Samples * Options.SampleInterval.TotalDays);

    private Figures Compute(UsageHistory history)
    {
        var o = Options;
        if (history.Samples == 0 && history.OomKills == 0)
        {
            return new Figures(new Estimate(default, default, false), default, default, 0, 1, 1, 0, ForecastMethod.None, 0, false, false, false);
        }
        var days = ConfidenceDays(history);
        var (upperFactor, lowerFactor) = ConfidenceFactors(days);
        var margin = 1 + o.Margin;
        var cpuP = new Percentiles(history.Cpu.Percentile(o.LowerPercentile), history.Cpu.Percentile(o.TargetPercentile), history.Cpu.Percentile(o.UpperPercentile));
        // A percentile is the end of its histogram bucket (5 % above the value for large values, more near the first
        // buckets: 0.01 core × 1.05^n wide for CPU, 10 MB × 1.05^n for memory); the peaks the history still
        // holds are exact, and no percentile of them lies above the highest (peaks that left the window weigh 2^-N),
        // so the bucket's rounding is capped there.
        var peak = history.ObservedMemoryPeak;
        var memP = new Percentiles(CapAt(history.Memory.Percentile(o.LowerPercentile), peak), CapAt(history.Memory.Percentile(o.TargetPercentile), peak), CapAt(history.Memory.Percentile(o.UpperPercentile), peak));

        var cpu = Bound(cpuP, margin, upperFactor, lowerFactor, o.CpuFloorCores, out var cpuFloored);

        var memTarget = memP.P90 * margin;
        var peakHeld = peak * margin > memTarget;
        memTarget = Math.Max(memTarget, peak * margin);
        var forecastPeak = history.Forecaster.PeakWithinHorizon();
        var forecastRaised = forecastPeak * margin > memTarget;
        memTarget = Math.Max(memTarget, forecastPeak * margin);
        var memory = Bound(new Percentiles(memP.P50, memTarget / margin, Math.Max(memP.P95, memTarget / margin)), margin, upperFactor, lowerFactor, o.MemoryFloorBytes, out var memFloored);
        return new Figures(new Estimate(cpu, memory, true, history.Span), cpuP, memP, days, upperFactor, lowerFactor, peak, history.Forecaster.Method,
            forecastPeak, forecastRaised, peakHeld, cpuFloored || memFloored);
    }

    // All three bounds get the margin; the confidence factors widen upper and lower; the target sits inside them;
    // the floor holds all three.
    private static ResourceBounds Bound(Percentiles p, double margin, double upperFactor, double lowerFactor, double floor, out bool floored)
    {
        var target = p.P90 * margin;
        floored = target < floor;
        target = Math.Max(target, floor);
        var lower = Math.Max(Math.Min(p.P50 * margin * lowerFactor, target), floor);
        var upper = Math.Max(p.P95 * margin * upperFactor, target);
        return new ResourceBounds(target, lower, upper);
    }

    private readonly record struct Percentiles(double P50, double P90, double P95);

    private readonly record struct Figures(
        Estimate Estimate,
        Percentiles Cpu,
        Percentiles Memory,
        double Days,
        double UpperFactor,
        double LowerFactor,
        double ObservedPeak,
        ForecastMethod Method,
        double ForecastPeak,
        bool ForecastRaised,
        bool PeakHeld,
        bool Floored);
}
