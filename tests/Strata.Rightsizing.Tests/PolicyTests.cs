using System.Text.Json;
using Strata.Rightsizing.Forecasting;
using Strata.Rightsizing.Policy;

namespace Strata.Rightsizing.Tests;

public class PolicyTests
{
    private static readonly ResourceLimits Current = new(2, 1024 * Samples.Mib);

    // Both targets far below the current limits (CPU 1 core, memory 500 MiB).
    private static readonly Estimate Smaller = new(new ResourceBounds(1, 0.8, 1.5), new ResourceBounds(500 * Samples.Mib, 400 * Samples.Mib, 800 * Samples.Mib), true);

    private static readonly Estimate Close = new(new ResourceBounds(1.9, 1.5, 2.5), new ResourceBounds(1000 * Samples.Mib, 800 * Samples.Mib, 1200 * Samples.Mib), true);

    private static DateTimeOffset At(int minutes) => Samples.Start + TimeSpan.FromMinutes(minutes);

    [Fact]
    public void Evaluate_OffOnConsecutiveSamples_AppliesOnlyOnTheNth()
    {
        var policy = new RightsizePolicy(new RightsizePolicyOptions { ConsecutiveSamples = 3 });
        var state = new RightsizeState();
        for (var i = 1; i <= 2; i++)
        {
            var waiting = policy.Evaluate(RightsizeMode.Auto, state, Current, Smaller, At(i));
            Assert.False(waiting.Apply);
            Assert.Equal(RightsizeReason.Hysteresis, waiting.Reason);
            Assert.Equal(Current, waiting.Limits);
            Assert.Contains($"off for {i} of 3 consecutive samples", waiting.Explanation, StringComparison.Ordinal);
            state = waiting.State;
        }
        var applied = policy.Evaluate(RightsizeMode.Auto, state, Current, Smaller, At(3));
        Assert.True(applied.Apply);
        Assert.Equal(RightsizeReason.Resized, applied.Reason);
        Assert.Equal(new ResourceLimits(1, 500 * Samples.Mib), applied.Limits);
        Assert.Equal("cpu 2 cores → 1 core, memory 1 GiB → 500 MiB: off by more than 10 % for 3 consecutive samples", applied.Explanation);
    }

    [Fact]
    public void Evaluate_ASampleWithinTheThreshold_ResetsTheCount()
    {
        var policy = new RightsizePolicy(new RightsizePolicyOptions { ConsecutiveSamples = 3 });
        var state = policy.Evaluate(RightsizeMode.Auto, new RightsizeState(), Current, Smaller, At(1)).State;
        state = policy.Evaluate(RightsizeMode.Auto, state, Current, Smaller, At(2)).State;
        var within = policy.Evaluate(RightsizeMode.Auto, state, Current, Close, At(3));
        Assert.Equal(RightsizeReason.WithinThreshold, within.Reason);
        Assert.Equal(0, within.State.ConsecutiveOff);
        var again = policy.Evaluate(RightsizeMode.Auto, within.State, Current, Smaller, At(4));
        Assert.False(again.Apply);
        Assert.Equal(1, again.State.ConsecutiveOff);
    }

    [Fact]
    public void Evaluate_WithinTenPercent_IsLeftAlone()
    {
        var decision = new RightsizePolicy(new RightsizePolicyOptions { ConsecutiveSamples = 1 }).Evaluate(RightsizeMode.Auto, new RightsizeState(), Current, Close, At(1));
        Assert.False(decision.Apply);
        Assert.Equal(RightsizeReason.WithinThreshold, decision.Reason);
    }

    [Fact]
    public void Evaluate_AfterAChange_WaitsForTheCooldown()
    {
        var policy = new RightsizePolicy(new RightsizePolicyOptions { ConsecutiveSamples = 1, Cooldown = TimeSpan.FromHours(1) });
        var first = policy.Evaluate(RightsizeMode.Auto, new RightsizeState(), Current, Smaller, At(0));
        Assert.True(first.Apply);
        var bigger = new Estimate(Smaller.Cpu, new ResourceBounds(2000 * Samples.Mib, 1500 * Samples.Mib, 2500 * Samples.Mib), true);
        var cooling = policy.Evaluate(RightsizeMode.Auto, first.State, first.Limits, bigger, At(59));
        Assert.False(cooling.Apply);
        Assert.Equal(RightsizeReason.Cooldown, cooling.Reason);
        Assert.Contains("last change 59 min ago, cooldown 1 h", cooling.Explanation, StringComparison.Ordinal);
        var after = policy.Evaluate(RightsizeMode.Auto, cooling.State, first.Limits, bigger, At(60));
        Assert.True(after.Apply);
        Assert.Equal(2000 * Samples.Mib, after.Limits.MemoryBytes);
        Assert.Equal(At(60), after.State.LastChange);
    }

    [Fact]
    public void OomKilled_InCooldown_RaisesMemoryAtOnceToTheLargerOfTwentyPercentAndTheUpperBound_AtMostTwiceTheLimit()
    {
        var policy = new RightsizePolicy(new RightsizePolicyOptions { Cooldown = TimeSpan.FromHours(6) });
        var state = new RightsizeState { LastChange = At(0) };
        var low = policy.OomKilled(RightsizeMode.Auto, state, Current, Smaller, At(1));
        Assert.True(low.Apply);
        Assert.Equal(RightsizeReason.OomBump, low.Reason);
        Assert.Equal(1024 * Samples.Mib * 1.2, low.Limits.MemoryBytes, 1.0);
        Assert.Equal(Current.CpuCores, low.Limits.CpuCores);
        Assert.StartsWith("OOM kill at memory 1 GiB: raise to 1.2 GiB", low.Explanation, StringComparison.Ordinal);
        var wide = new Estimate(Smaller.Cpu, new ResourceBounds(900 * Samples.Mib, 500 * Samples.Mib, 3000 * Samples.Mib), true);
        var high = policy.OomKilled(RightsizeMode.Auto, state, Current, wide, At(1));
        Assert.Equal(1900 * Samples.Mib, policy.OomKilled(RightsizeMode.Auto, state, Current, wide with { Memory = new ResourceBounds(900 * Samples.Mib, 500 * Samples.Mib, 1900 * Samples.Mib) }, At(1)).Limits.MemoryBytes);
        Assert.Equal(2048 * Samples.Mib, high.Limits.MemoryBytes); // the upper bound (3000 MiB) is capped at 2 × the limit
        Assert.Contains("capped at ×2 of the limit", high.Explanation, StringComparison.Ordinal);
        Assert.Equal(At(1), high.State.LastChange);
    }

    [Theory]
    [InlineData(RightsizeMode.Off, RightsizeReason.Off)]
    [InlineData(RightsizeMode.Recommend, RightsizeReason.RecommendOnly)]
    public void OffAndRecommend_NeverApply(RightsizeMode mode, RightsizeReason reason)
    {
        var policy = new RightsizePolicy(new RightsizePolicyOptions { ConsecutiveSamples = 1, Cooldown = TimeSpan.Zero });
        var state = new RightsizeState();
        for (var i = 0; i < 50; i++)
        {
            var decision = policy.Evaluate(mode, state, Current, Smaller, At(i * 60));
            Assert.False(decision.Apply);
            Assert.Equal(reason, decision.Reason);
            state = decision.State;
        }
        var oom = policy.OomKilled(mode, state, Current, Smaller, At(3001));
        Assert.False(oom.Apply);
        Assert.Equal(reason, oom.Reason);
        if (mode == RightsizeMode.Recommend)
        {
            Assert.StartsWith("recommend mode: ", oom.Explanation, StringComparison.Ordinal);
            Assert.Equal(1024 * Samples.Mib * 1.2, oom.Limits.MemoryBytes, 1.0);
        }
    }

    [Fact]
    public void Evaluate_ShrinkOnlyAboveUpperBound_KeepsALimitInsideTheBand()
    {
        var policy = new RightsizePolicy(new RightsizePolicyOptions { ConsecutiveSamples = 1, ShrinkOnlyAboveUpperBound = true });
        var band = new Estimate(new ResourceBounds(1, 0.8, 2.5), new ResourceBounds(500 * Samples.Mib, 400 * Samples.Mib, 1500 * Samples.Mib), true);
        Assert.Equal(RightsizeReason.WithinThreshold, policy.Evaluate(RightsizeMode.Auto, new RightsizeState(), Current, band, At(0)).Reason);
        Assert.True(policy.Evaluate(RightsizeMode.Auto, new RightsizeState(), Current, Smaller, At(0)).Apply);
        var growing = new Estimate(Close.Cpu, new ResourceBounds(2000 * Samples.Mib, 400 * Samples.Mib, 2500 * Samples.Mib), true);
        Assert.True(policy.Evaluate(RightsizeMode.Auto, new RightsizeState(), Current, growing, At(0)).Apply);
    }

    [Fact]
    public void Evaluate_NoHistory_ChangesNothing()
    {
        var decision = new RightsizePolicy(new RightsizePolicyOptions { ConsecutiveSamples = 1 }).Evaluate(RightsizeMode.Auto, new RightsizeState(), Current, default, At(0));
        Assert.False(decision.Apply);
        Assert.Equal(RightsizeReason.NoHistory, decision.Reason);
    }

    [Fact]
    public void Decision_RoundTripsThroughJson()
    {
        var decision = new RightsizePolicy().OomKilled(RightsizeMode.Auto, new RightsizeState(), Current, Smaller, At(5));
        var json = JsonSerializer.Serialize(decision, RightsizingJson.Default.RightsizeDecision);
        Assert.Equal(decision, JsonSerializer.Deserialize(json, RightsizingJson.Default.RightsizeDecision));
        Assert.Contains("\"reason\":7", json, StringComparison.Ordinal);
    }

    [Fact]
    public void MemoryShrinkAfter_HoldsAMemoryDecreaseUntilTheHistoryIsADay_NotARaise_NorCpu()
    {
        var policy = new RightsizePolicy(new RightsizePolicyOptions { ConsecutiveSamples = 1, MemoryShrinkAfter = TimeSpan.FromHours(24) });
        var young = Smaller with { Span = TimeSpan.FromHours(5) };

        // CPU is lowered; memory, above its target, is kept while the history is 5 h old.
        var cpuOnly = policy.Evaluate(RightsizeMode.Auto, new RightsizeState(), Current, young, At(1));
        Assert.True(cpuOnly.Apply);
        Assert.Equal(new ResourceLimits(1, Current.MemoryBytes), cpuOnly.Limits);

        // With CPU on target, the hold is the decision, and it says why.
        var memoryOnly = young with { Cpu = new ResourceBounds(2, 1.5, 2.5) };
        var held = policy.Evaluate(RightsizeMode.Auto, new RightsizeState(), Current, memoryOnly, At(1));
        Assert.False(held.Apply);
        Assert.Equal(RightsizeReason.YoungHistory, held.Reason);
        Assert.Equal("memory 1 GiB is above its target 500 MiB, but is lowered only after 24 h of history (5 h so far): the day's peak is not known yet", held.Explanation);

        // A day old, it is lowered; a raise is never held.
        var old = policy.Evaluate(RightsizeMode.Auto, new RightsizeState(), Current, memoryOnly with { Span = TimeSpan.FromHours(24) }, At(1));
        Assert.Equal(500 * Samples.Mib, old.Limits.MemoryBytes);
        var grow = young with { Cpu = new ResourceBounds(2, 1.5, 2.5), Memory = new ResourceBounds(2000 * Samples.Mib, 1500 * Samples.Mib, 2500 * Samples.Mib) };
        Assert.Equal(2000 * Samples.Mib, policy.Evaluate(RightsizeMode.Auto, new RightsizeState(), Current, grow, At(1)).Limits.MemoryBytes);

        // The recommender gives the history's span with every estimate, so the daemon's policy can hold.
        var recommender = new Recommender(new RecommenderOptions { SampleInterval = TimeSpan.FromMinutes(1) });
        var history = recommender.NewHistory();
        for (var i = 0; i <= 60; i++)
        {
            history.Add(new UsageSample(At(i), 0.1, 100 * Samples.Mib));
        }
        Assert.Equal(TimeSpan.FromHours(1), recommender.Estimate(history).Span);
        Assert.Equal(TimeSpan.FromHours(24), RightsizePolicyOptions.Daemon.MemoryShrinkAfter);
        Assert.True(RightsizePolicyOptions.Daemon.ShrinkOnlyAboveUpperBound);
    }

    [Fact]
    public void PersistedEnums_KeepTheirNumbers()
    {
        Assert.Equal([0, 1, 2], Enum.GetValues<RightsizeMode>().Select(v => (int)v));
        Assert.Equal(["Off", "Recommend", "Auto"], Enum.GetNames<RightsizeMode>());
        Assert.Equal(["Off", "RecommendOnly", "NoHistory", "WithinThreshold", "Hysteresis", "Cooldown", "Resized", "OomBump", "YoungHistory"], Enum.GetNames<RightsizeReason>());
        Assert.Equal(Enumerable.Range(0, 9), Enum.GetValues<RightsizeReason>().Select(v => (int)v));
        Assert.Equal(["None", "Holt", "HoltWinters"], Enum.GetNames<ForecastMethod>());
        Assert.Equal([0, 1, 2], Enum.GetValues<ForecastMethod>().Select(v => (int)v));
    }

    [Fact]
    public void Options_OutOfRange_AreRefusedNamingTheSetting()
    {
        Assert.Equal("ConsecutiveSamples", Assert.Throws<ArgumentException>(() => new RightsizePolicy(new RightsizePolicyOptions { ConsecutiveSamples = 0 })).ParamName);
        Assert.Equal("OomBumpRatio", Assert.Throws<ArgumentException>(() => new RightsizePolicy(new RightsizePolicyOptions { OomBumpRatio = 1 })).ParamName);
        Assert.Equal("MemoryShrinkAfter", Assert.Throws<ArgumentException>(() => new RightsizePolicy(new RightsizePolicyOptions { MemoryShrinkAfter = TimeSpan.FromHours(-1) })).ParamName);
        Assert.Equal("Alpha", Assert.Throws<ArgumentException>(() => new Recommender(new RecommenderOptions { Forecast = new ForecastOptions { Alpha = 0 } })).ParamName);
    }
}
