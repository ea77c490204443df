using System.Text.Json;

namespace Strata.Rightsizing.Tests;

public class RecommenderTests
{
    private static readonly TimeSpan TenSeconds = TimeSpan.FromSeconds(10);
    private static readonly Recommender Recommender = new();

    [Fact]
    public void Add_BootSampleWithoutCpu_CountsItsMemoryButLeavesTheCpuP90ToTheWorkload()
    {
        // A young guest's history: one sample of its boot at 0.93 cores, then 20 of an idle workload. Usage-weighted,
        // the boot sample alone would carry the p90 (the guest tiers' first CI failure); left out, the idle use does.
        var start = DateTimeOffset.UnixEpoch;
        UsageHistory Young(bool bootCpu)
        {
            var h = Recommender.NewHistory();
            h.Add(new UsageSample(start, 0.93, 300 * Samples.Mib), countCpu: bootCpu);
            for (var i = 1; i <= 20; i++)
            {
                h.Add(new UsageSample(start + (i * TenSeconds), 0.05, 60 * Samples.Mib));
            }
            return h;
        }
        var counted = Recommender.Recommend(Young(bootCpu: true), new ResourceLimits(1, 512 * Samples.Mib));
        var left = Recommender.Recommend(Young(bootCpu: false), new ResourceLimits(1, 512 * Samples.Mib));
        Assert.True(counted.Cpu.Target > 1, $"with the boot: {counted.Cpu.Target}");
        Assert.InRange(left.Cpu.Target, 0.025, 0.1);
        Assert.Equal(21, left.Samples);
        Assert.InRange(left.Explanation.CpuP50, 0.05, 0.06); // the idle samples' bucket
        // The boot's memory counts: the peak holds the memory target up.
        Assert.True(left.Memory.Target >= 300 * Samples.Mib * 1.15, $"memory {left.Memory.Target}");
    }

    [Theory]
    [InlineData(0.5, 3.0)]
    [InlineData(1.0, 2.0)]
    [InlineData(7.0, 8.0 / 7)]
    public void ConfidenceFactors_AsVpa_WidenTheUpperBound(double days, double upper)
    {
        Assert.Equal(upper, Recommender.ConfidenceFactors(days).Upper, 9);
    }

    [Theory]
    [InlineData(5, 0.603)]
    [InlineData(60, 0.954)]
    public void ConfidenceFactors_AsVpa_LowerTheLowerBound(double minutes, double lower)
    {
        Assert.Equal(lower, Recommender.ConfidenceFactors(minutes / 1440).Lower, 3);
    }

    [Theory]
    [InlineData(12, 3.0)]
    [InlineData(24, 2.0)]
    [InlineData(168, 8.0 / 7)]
    public void Recommend_HistoryLength_WidensTheUpperBoundByTheConfidenceFactor(int hours, double factor)
    {
        var history = Recommender.NewHistory().Feed(Samples.Over(TimeSpan.FromHours(hours) + TenSeconds, TenSeconds, _ => (0.5, 400 * Samples.Mib)));
        var r = Recommender.Recommend(history, new ResourceLimits(1, 1024 * Samples.Mib));
        Assert.Equal(factor, r.Explanation.UpperFactor, 2);
        Assert.Equal(r.Explanation.CpuP95 * 1.15 * r.Explanation.UpperFactor, r.Cpu.Upper, 6);
        Assert.Equal(r.Explanation.MemoryP95 * 1.15 * r.Explanation.UpperFactor, r.Memory.Upper, 1.0);
        Assert.Contains(r.Explanation.Sentences, s => s.Contains($"upper bounds ×{factor:0.##}", StringComparison.Ordinal));
    }

    [Fact]
    public void Recommend_Cpu_TargetIsP90PlusMarginLowerP50UpperP95()
    {
        var random = new Random(5);
        var history = Recommender.NewHistory().Feed(Samples.Over(TimeSpan.FromDays(8), TimeSpan.FromMinutes(1), _ => (0.2 + (random.NextDouble() * 1.8), 300 * Samples.Mib)));
        var r = Recommender.Recommend(history, new ResourceLimits(4, 1024 * Samples.Mib));
        var e = r.Explanation;
        Assert.Equal(e.CpuP90 * 1.15, r.Cpu.Target, 9);
        Assert.Equal(e.CpuP50 * 1.15 * e.LowerFactor, r.Cpu.Lower, 9);
        Assert.Equal(e.CpuP95 * 1.15 * e.UpperFactor, r.Cpu.Upper, 9);
        Assert.True(r.Cpu.Lower < r.Cpu.Target && r.Cpu.Target < r.Cpu.Upper);
        // Weighted by usage: the weighted p90 of U(0.2, 2) lies above the plain p90 (1.82).
        Assert.InRange(e.CpuP90, 1.82, 2.0);
        Assert.Equal(11_520, r.Samples);
    }

    [Fact]
    public void Recommend_Memory_NeverBelowTheObservedPeakPlusMargin()
    {
        // Day one peaks at 1 GiB once; the next seven days stay at 200 MiB, so by then the p90 of the decayed daily
        // peaks is 200 MiB, but the 1 GiB peak is still inside the 8 kept intervals.
        var history = Recommender.NewHistory().Feed(Samples.Over(TimeSpan.FromDays(8), TimeSpan.FromMinutes(1),
            t => (0.1, t == TimeSpan.FromHours(3) ? 1024 * Samples.Mib : 200 * Samples.Mib)));
        var r = Recommender.Recommend(history, new ResourceLimits(1, 2048 * Samples.Mib));
        Assert.InRange(r.Explanation.MemoryP90, 200 * Samples.Mib, 211 * Samples.Mib);
        Assert.Equal(1024 * Samples.Mib, r.Explanation.ObservedMemoryPeak);
        Assert.True(r.Memory.Target >= 1024 * Samples.Mib * 1.15);
        Assert.Contains(r.Explanation.Sentences, s => s.StartsWith("memory is kept at the observed peak 1 GiB + 15 % = 1.15 GiB", StringComparison.Ordinal));
    }

    [Fact]
    public void Recommend_TinyUsage_HoldsTheFloors()
    {
        var history = Recommender.NewHistory().Feed(Samples.Over(TimeSpan.FromDays(2), TimeSpan.FromMinutes(1), _ => (0.001, 2 * Samples.Mib)));
        var r = Recommender.Recommend(history, new ResourceLimits(1, 512 * Samples.Mib));
        Assert.Equal(0.025, r.Cpu.Target);
        Assert.Equal(32 * Samples.Mib, r.Memory.Target);
        Assert.True(r.Cpu.Lower >= 0.025 && r.Memory.Lower >= 32 * Samples.Mib);
        Assert.Contains(r.Explanation.Sentences, s => s.StartsWith("floors: 25m cpu, 32 MiB memory", StringComparison.Ordinal));
    }

    [Fact]
    public void Recommend_NoSamples_KeepsNothingAndSaysSo()
    {
        var r = Recommender.Recommend(Recommender.NewHistory(), new ResourceLimits(1, 1024 * Samples.Mib));
        Assert.False(Recommender.Estimate(Recommender.NewHistory()).HasHistory);
        Assert.Equal(0, r.Samples);
        Assert.Equal(["no samples yet: nothing to recommend, the limits stay as they are"], r.Explanation.Sentences);
    }

    [Fact]
    public void Recommend_Explanation_QuotesTheNumbersAndSlack()
    {
        var history = Recommender.NewHistory().Feed(Samples.Over(TimeSpan.FromHours(20), TimeSpan.FromSeconds(25), _ => (0.3, 400 * Samples.Mib)));
        var r = Recommender.Recommend(history, new ResourceLimits(1, 1024 * Samples.Mib));
        Assert.Equal(2_880, r.Samples);
        Assert.StartsWith("memory: p90 of 1 daily peak over 20 h is 4", r.Explanation.Sentences[1], StringComparison.Ordinal);
        Assert.Contains("cpu: p90 of 2,880 samples over 20 h", r.Explanation.Sentences[0], StringComparison.Ordinal);
        // 2,880 samples at the expected 10 s cover 8 h: the confidence counts what the samples cover, not the span.
        Assert.Contains(r.Explanation.Sentences, s => s.StartsWith("2,880 samples at 10 s count as 8 h of history, which widens the upper bounds ×4 ", StringComparison.Ordinal));
        Assert.Equal((1024 - 400) / 1024.0, r.SlackToday.Memory, 6);
        Assert.Equal(1 - (400 * Samples.Mib / r.Memory.Target), r.SlackAfter.Memory, 6);
        Assert.Contains(r.Explanation.Sentences, s => s.StartsWith("slack today: cpu 70 %, memory 61 %", StringComparison.Ordinal));
    }

    [Fact]
    public void Recommend_SerialisesWithTheSourceGeneratedContext()
    {
        var history = Recommender.NewHistory().Feed(Samples.Over(TimeSpan.FromHours(30), TimeSpan.FromMinutes(1), t => (0.3, (300 + t.TotalHours) * Samples.Mib)));
        history.RecordOomKill(Samples.Start + TimeSpan.FromHours(30), 320 * Samples.Mib);
        var r = Recommender.Recommend(history, new ResourceLimits(1, 320 * Samples.Mib));
        var json = JsonSerializer.Serialize(r, RightsizingJson.Default.Recommendation);
        var back = JsonSerializer.Deserialize(json, RightsizingJson.Default.Recommendation)!;
        Assert.Equal(json, JsonSerializer.Serialize(back, RightsizingJson.Default.Recommendation));
        Assert.Contains("\"oomKills\":1", json, StringComparison.Ordinal);
        Assert.Contains("\"sentences\":[", json, StringComparison.Ordinal);
        Assert.True(r.Memory.Target >= 320 * Samples.Mib * 1.2 * 1.15);
    }
}
