using System.Text.Json;
using Strata.Rightsizing.Histograms;

namespace Strata.Rightsizing.Tests;

public class HistogramTests
{
    private static readonly TimeSpan Day = TimeSpan.FromDays(1);

    [Fact]
    public void Options_VpaLayouts_Have176BucketsAndEachValueFallsInItsBucket()
    {
        Assert.Equal(176, HistogramOptions.Cpu.BucketCount);
        Assert.Equal(176, HistogramOptions.Memory.BucketCount);
        for (var i = 1; i < HistogramOptions.Cpu.BucketCount - 1; i++)
        {
            var start = HistogramOptions.Cpu.BucketStart(i);
            var next = HistogramOptions.Cpu.BucketStart(i + 1);
            Assert.Equal(i, HistogramOptions.Cpu.BucketOf((start + next) / 2));
            // Each bucket is 5 % wider than the one before it.
            Assert.Equal(1.05, (next - start) / (start - HistogramOptions.Cpu.BucketStart(i - 1)), 6);
        }
        Assert.Equal(0.01, HistogramOptions.Cpu.BucketStart(1), 9);
        Assert.Equal(1e7, HistogramOptions.Memory.BucketStart(1), 3);
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(0.9)]
    [InlineData(0.95)]
    public void Percentile_UniformCpu_WithinOneBucketOfTheTrueValue(double p)
    {
        var histogram = new DecayingHistogram(HistogramOptions.Cpu, Day);
        var random = new Random(7);
        for (var i = 0; i < 20_000; i++)
        {
            histogram.Add(random.NextDouble() * 4, 1, Samples.Start);
        }
        var expected = 4 * p;
        var actual = histogram.Percentile(p);
        Assert.InRange(actual, expected * 0.98, expected * 1.07);
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(0.9)]
    [InlineData(0.95)]
    public void Percentile_ExponentialMemory_WithinOneBucketOfTheTrueValue(double p)
    {
        var histogram = new DecayingHistogram(HistogramOptions.Memory, Day);
        var random = new Random(11);
        const double Mean = 300 * Samples.Mib;
        for (var i = 0; i < 50_000; i++)
        {
            histogram.Add(-Mean * Math.Log(1 - random.NextDouble()), 1, Samples.Start);
        }
        var expected = -Mean * Math.Log(1 - p);
        Assert.InRange(histogram.Percentile(p), expected * 0.97, expected * 1.08);
    }

    [Fact]
    public void Percentile_OneValue_IsTheEndOfItsBucketNeverBelowTheValue()
    {
        var histogram = new DecayingHistogram(HistogramOptions.Memory, Day);
        histogram.Add(500 * Samples.Mib, 1, Samples.Start);
        foreach (var p in new[] { 0.01, 0.5, 0.9, 1.0 })
        {
            Assert.InRange(histogram.Percentile(p), 500 * Samples.Mib, 500 * Samples.Mib * 1.06);
        }
        Assert.Equal(0, new DecayingHistogram(HistogramOptions.Memory, Day).Percentile(0.9));
    }

    [Fact]
    public void Decay_SampleOneHalfLifeOld_WeighsHalf()
    {
        var histogram = new DecayingHistogram(HistogramOptions.Cpu, Day);
        histogram.Add(1, 1, Samples.Start);
        Assert.Equal(1, histogram.TotalWeight(Samples.Start), 9);
        Assert.Equal(0.5, histogram.TotalWeight(Samples.Start + Day), 9);
        Assert.Equal(0.25, histogram.TotalWeight(Samples.Start + (2 * Day)), 9);

        // A sample a day old with twice the weight balances a fresh one: the median sits between them.
        var balanced = new DecayingHistogram(HistogramOptions.Cpu, Day);
        balanced.Add(0.1, 2, Samples.Start);
        balanced.Add(3, 1, Samples.Start + Day);
        Assert.Equal(2, balanced.TotalWeight(Samples.Start + Day), 9);
        Assert.True(balanced.Percentile(0.49) < 0.2);
        Assert.True(balanced.Percentile(0.51) > 2.9);
    }

    [Fact]
    public void Decay_HundredsOfHalfLives_StaysFiniteAndFollowsTheRecentSamples()
    {
        var histogram = new DecayingHistogram(HistogramOptions.Cpu, TimeSpan.FromHours(1));
        for (var h = 0; h < 500; h++)
        {
            histogram.Add(h < 400 ? 5 : 0.5, 1, Samples.Start + TimeSpan.FromHours(h));
        }
        Assert.True(double.IsFinite(histogram.TotalWeight(Samples.Start + TimeSpan.FromHours(500))));
        Assert.InRange(histogram.Percentile(0.95), 0.5, 0.53);
    }

    [Fact]
    public void Subtract_TheSameSample_CancelsIt()
    {
        var histogram = new DecayingHistogram(HistogramOptions.Memory, Day);
        histogram.Add(100 * Samples.Mib, 1, Samples.Start);
        histogram.Add(900 * Samples.Mib, 1, Samples.Start + TimeSpan.FromHours(3));
        histogram.Subtract(900 * Samples.Mib, 1, Samples.Start + TimeSpan.FromHours(3));
        Assert.InRange(histogram.Percentile(1), 100 * Samples.Mib, 106 * Samples.Mib);
    }

    [Fact]
    public void State_RoundTripsThroughJson_AndIsBounded()
    {
        var histogram = new DecayingHistogram(HistogramOptions.Memory, Day);
        var random = new Random(3);
        for (var i = 0; i < 10_000; i++)
        {
            histogram.Add(random.NextDouble() * 8e9, 1 + random.NextDouble(), Samples.Start + TimeSpan.FromMinutes(i));
        }
        var state = histogram.ToState();
        Assert.True(state.Buckets.Count <= HistogramOptions.Memory.BucketCount);
        var json = JsonSerializer.Serialize(new UsageHistoryState { Cpu = new HistogramState(), Memory = state, Forecast = new() }, RightsizingJson.Default.UsageHistoryState);
        var back = JsonSerializer.Deserialize(json, RightsizingJson.Default.UsageHistoryState)!.Memory;
        var restored = DecayingHistogram.FromState(back, HistogramOptions.Memory, Day);
        Assert.Equal(state.Buckets, restored.ToState().Buckets);
        Assert.Equal(state.Reference, restored.ToState().Reference);
        foreach (var p in new[] { 0.5, 0.9, 0.95 })
        {
            Assert.Equal(histogram.Percentile(p), restored.Percentile(p));
        }
    }

    [Fact]
    public void State_UnknownVersionOrBucket_IsRefusedNamingIt()
    {
        var version = Assert.Throws<ArgumentException>(() => DecayingHistogram.FromState(new HistogramState { Version = 99 }, HistogramOptions.Cpu, Day));
        Assert.Contains("version 99", version.Message, StringComparison.Ordinal);
        var bucket = Assert.Throws<ArgumentException>(() => DecayingHistogram.FromState(new HistogramState { Buckets = [new HistogramBucket(500, 1)] }, HistogramOptions.Cpu, Day));
        Assert.Contains("bucket 500", bucket.Message, StringComparison.Ordinal);
    }
}
