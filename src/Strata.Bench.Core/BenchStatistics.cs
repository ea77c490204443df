namespace Strata.Bench.Core;

/// <summary>Min, median, p90 and max of a set of samples, in milliseconds.</summary>
public sealed record LatencyStats(int Count, double MinMs, double MedianMs, double P90Ms, double MaxMs);

/// <summary>
/// The statistics every table and chart is built from. Pure: samples in, numbers out. The median of an even
/// count is the mean of the middle two; percentiles interpolate linearly between ranks (the usual "type 7").
/// </summary>
public static class BenchStatistics
{
    public static LatencyStats? Summarize(IReadOnlyCollection<double> samples)
    {
        if (samples.Count == 0)
        {
            return null;
        }
        var sorted = samples.Order().ToArray();
        return new LatencyStats(sorted.Length, Round(sorted[0]), Round(Percentile(sorted, 0.5)), Round(Percentile(sorted, 0.9)), Round(sorted[^1]));
    }

    /// <summary>The median of unsorted samples (the mean of the middle two for an even count); NaN when there are none.</summary>
    public static double Median(IEnumerable<double> samples)
    {
        var sorted = samples.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : Percentile(sorted, 0.5);
    }

    /// <summary>The p-th quantile (0..1) of sorted samples, linearly interpolated.</summary>
    public static double Percentile(IReadOnlyList<double> sorted, double p)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(p, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(p, 1);
        if (sorted.Count == 0)
        {
            throw new ArgumentException("no samples", nameof(sorted));
        }
        var rank = p * (sorted.Count - 1);
        var low = (int)Math.Floor(rank);
        var high = (int)Math.Ceiling(rank);
        return sorted[low] + ((sorted[high] - sorted[low]) * (rank - low));
    }

    /// <summary>a / b rounded to two decimals, or null when either side is missing or b is not positive.</summary>
    public static double? Ratio(double? a, double? b) =>
        a is { } x && b is { } y && y > 0 ? Math.Round(x / y, 2) : null;

    /// <summary>How many instances of <paramref name="perInstanceBytes"/> fit in <paramref name="budgetBytes"/>.</summary>
    public static long Fits(long budgetBytes, long perInstanceBytes) =>
        perInstanceBytes <= 0 ? 0 : budgetBytes / perInstanceBytes;

    private static double Round(double ms) => Math.Round(ms, 2);
}
