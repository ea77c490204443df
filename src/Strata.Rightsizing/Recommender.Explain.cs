using System.Globalization;
using Strata.Rightsizing.Forecasting;

namespace Strata.Rightsizing;

public sealed partial class Recommender
{
    private RecommendationExplanation Explain(UsageHistory history, ResourceLimits current, Figures f)
    {
        var o = Options;
        var sentences = new List<string>();
        var e = f.Estimate;
        if (!e.HasHistory)
        {
            sentences.Add("no samples yet: nothing to recommend, the limits stay as they are");
        }
        else
        {
            var span = Duration(history.Span);
            sentences.Add(Invariant($"cpu: p{o.TargetPercentile * 100:0} of {history.Samples:N0} samples over {span} (weighted by usage) is {Cores(f.Cpu.P90)}; +{o.Margin * 100:0} % margin gives {Cores(e.Cpu.Target)}"));
            sentences.Add(Invariant($"memory: p{o.TargetPercentile * 100:0} of {history.MemoryPeakCount} {Plural(history.MemoryPeakCount, "daily peak", "daily peaks")} over {span} is {Bytes(f.Memory.P90)}; +{o.Margin * 100:0} % margin"));
            if (f.PeakHeld)
            {
                sentences.Add(Invariant($"memory is kept at the observed peak {Bytes(f.ObservedPeak)} + {o.Margin * 100:0} % = {Bytes(f.ObservedPeak * (1 + o.Margin))}"));
            }
            if (f.ForecastRaised)
            {
                sentences.Add(Invariant($"the forecast ({MethodName(f.Method)}) reaches {Bytes(f.ForecastPeak)} within {o.Forecast.Horizon.TotalHours:0} h: memory target raised to {Bytes(e.Memory.Target)}"));
            }
            else if (f.Method != ForecastMethod.None)
            {
                sentences.Add(Invariant($"the forecast ({MethodName(f.Method)}) peaks at {Bytes(f.ForecastPeak)} within {o.Forecast.Horizon.TotalHours:0} h, inside the margin"));
            }
            var counted = f.Days < history.Span.TotalDays
                ? Invariant($"{history.Samples:N0} samples at {Duration(o.SampleInterval)} count as {Duration(TimeSpan.FromDays(f.Days))} of history, which widens")
                : Invariant($"{Duration(TimeSpan.FromDays(f.Days))} of history widens");
            sentences.Add(Invariant($"{counted} the upper bounds ×{f.UpperFactor:0.##} and the lower bounds ×{f.LowerFactor:0.###}"));
            if (history.OomKills > 0)
            {
                sentences.Add(Invariant($"{history.OomKills:N0} OOM {Plural(history.OomKills, "kill", "kills")} counted as peaks of {o.OomBumpRatio:0.##} × the limit"));
            }
            if (f.Floored)
            {
                sentences.Add(Invariant($"floors: {Cores(o.CpuFloorCores)} cpu, {Bytes(o.MemoryFloorBytes)} memory"));
            }
            sentences.Add(Invariant($"recommended: cpu {Cores(e.Cpu.Target)} ({Cores(e.Cpu.Lower)}–{Cores(e.Cpu.Upper)}), memory {Bytes(e.Memory.Target)} ({Bytes(e.Memory.Lower)}–{Bytes(e.Memory.Upper)}); now cpu {Cores(current.CpuCores)}, memory {Bytes(current.MemoryBytes)}"));
            sentences.Add(Invariant($"slack today: cpu {Percent(Slack(current.CpuCores, history.MeanCpu))}, memory {Percent(Slack(current.MemoryBytes, history.MeanMemory))}; after: cpu {Percent(Slack(e.Cpu.Target, history.MeanCpu))}, memory {Percent(Slack(e.Memory.Target, history.MeanMemory))}"));
        }
        return new RecommendationExplanation
        {
            Sentences = sentences,
            CpuP50 = f.Cpu.P50,
            CpuP90 = f.Cpu.P90,
            CpuP95 = f.Cpu.P95,
            MemoryP50 = f.Memory.P50,
            MemoryP90 = f.Memory.P90,
            MemoryP95 = f.Memory.P95,
            Margin = o.Margin,
            ConfidenceDays = f.Days,
            UpperFactor = f.UpperFactor,
            LowerFactor = f.LowerFactor,
            ObservedMemoryPeak = f.ObservedPeak,
            MemoryPeaks = history.MemoryPeakCount,
            ForecastMethod = f.Method,
            ForecastMemoryPeak = f.ForecastPeak,
            ForecastHorizonHours = o.Forecast.Horizon.TotalHours,
            ForecastRaised = f.ForecastRaised,
        };
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    private static string Plural(long count, string one, string many) => count == 1 ? one : many;

    private static string MethodName(ForecastMethod method) =>
        method == ForecastMethod.HoltWinters ? "Holt-Winters, daily season" : "double exponential smoothing";

    internal static string Cores(double cores) =>
        cores < 1 ? Invariant($"{cores * 1000:0}m") : cores == 1 ? "1 core" : Invariant($"{cores:0.##} cores");

    internal static string Bytes(double bytes) =>
        bytes >= 1L << 30 ? Invariant($"{bytes / (1L << 30):0.##} GiB") : Invariant($"{bytes / (1L << 20):0} MiB");

    internal static string Percent(double fraction) => Invariant($"{fraction * 100:0} %");

    internal static string Duration(TimeSpan span) =>
        span.TotalMinutes < 1 ? Invariant($"{span.TotalSeconds:0} s")
        : span.TotalHours < 1 ? Invariant($"{span.TotalMinutes:0} min")
        : span.TotalHours < 48 ? Invariant($"{span.TotalHours:0.#} h")
        : Invariant($"{span.TotalDays:0.#} days");
}
