namespace Strata.Rightsizing.Histograms;

/// <summary>
/// Exponential bucket layout, as VPA's histograms: bucket 0 is [0, first), and each later bucket is
/// <see cref="Ratio"/> times as wide as the one before it, up to <see cref="MaxValue"/> (values above land in the last).
/// </summary>
public sealed record HistogramOptions
{
    /// <summary>Width of the first bucket (cores for CPU, bytes for memory).</summary>
    public required double FirstBucketSize { get; init; }

    /// <summary>Growth of each bucket's width over the previous one (VPA: 5 %).</summary>
    public double Ratio { get; init; } = 1.05;

    /// <summary>The largest value the buckets cover.</summary>
    public required double MaxValue { get; init; }

    /// <summary>CPU in cores: first bucket 0.01 core, up to 1,000 cores (VPA's layout; 176 buckets).</summary>
    public static HistogramOptions Cpu { get; } = new() { FirstBucketSize = 0.01, MaxValue = 1000 };

    /// <summary>Memory in bytes: first bucket 10 MB, up to 1 TB (VPA's layout; 176 buckets).</summary>
    public static HistogramOptions Memory { get; } = new() { FirstBucketSize = 1e7, MaxValue = 1e12 };

    /// <summary>How many buckets the layout has; bounds the size of a histogram's state.</summary>
    public int BucketCount => (int)Math.Ceiling(Math.Log((MaxValue * (Ratio - 1) / FirstBucketSize) + 1, Ratio)) + 1;

    /// <summary>The smallest value that falls in <paramref name="bucket"/>.</summary>
    public double BucketStart(int bucket) =>
        bucket <= 0 ? 0 : FirstBucketSize * (Math.Pow(Ratio, bucket) - 1) / (Ratio - 1);

    /// <summary>The bucket a value falls in (negative values in the first, huge ones in the last).</summary>
    public int BucketOf(double value)
    {
        if (!(value >= FirstBucketSize))
        {
            return 0;
        }
        var bucket = (int)Math.Floor(Math.Log((value * (Ratio - 1) / FirstBucketSize) + 1, Ratio));
        return Math.Min(bucket, BucketCount - 1);
    }
}
