using Strata.Contracts;
using Strata.Control.Usage;

namespace Strata.Control.Tests;

/// <summary>
/// The usage sampler over the fake tier (its <c>use</c> script reports a chosen usage on the virtual clock): samples
/// into histories, recommendations with their reasons, persistence across a restart, OOM kills, applying through
/// resize, retention of removed instances, and projects kept apart.
/// </summary>
public sealed class UsageSamplerTests : IAsyncLifetime
{
    private const long Mib = 1024 * 1024;
    private readonly InstanceServiceHarness _h = new();
    private UsageSampler _sampler = null!;

    public async Task InitializeAsync()
    {
        await _h.InitializeAsync();
        _sampler = NewSampler();
        await _sampler.InitializeAsync(CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        await _sampler.DisposeAsync();
        await _h.DisposeAsync();
    }

    private UsageSampler NewSampler() => new(_h.Service, _h.Store, _h.Time, new UsageSamplerOptions { Interval = TimeSpan.FromSeconds(10), SaveEvery = TimeSpan.FromMinutes(1) });

    private static InstanceSpec User(string name, double memoryMib, double cores, double growthMibPerHour = 0, long limit = 1024 * Mib, double cpus = 2) =>
        InstanceServiceHarness.Spec(name, "use", Invariant(memoryMib), Invariant(cores), Invariant(growthMibPerHour)) with
        {
            Resources = new ResourceSpec { MemoryBytes = limit, Cpus = cpus },
        };

    private static string Invariant(double v) => v.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>One sampling round every 10 s of virtual time, <paramref name="rounds"/> times.</summary>
    private async Task SampleAsync(int rounds)
    {
        for (var i = 0; i < rounds; i++)
        {
            await _sampler.SampleOnceAsync(CancellationToken.None);
            _h.Time.Advance(TimeSpan.FromSeconds(10));
        }
    }

    [Fact]
    public async Task Sampling_SteadyUsage_RecommendsP90PlusMargin_WithReasonsAndSlack()
    {
        await _h.CreateAsync(User("web", memoryMib: 300, cores: 0.5));
        await SampleAsync(361); // an hour: 360 samples (the first reading is the CPU baseline)

        var r = Assert.Single(_sampler.Recommend(InstanceService.DefaultProject));
        Assert.Equal("web", r.Name);
        Assert.Equal(360, r.Samples);
        Assert.Equal(1.0, r.HistoryHours, 2);
        Assert.Equal(new ResourcePair(2, 1024 * Mib), r.Current);
        // p90 of 0.5 core is the end of its 5 % bucket; +15 % margin.
        Assert.InRange(r.CpuP90, 0.5, 0.5 * 1.05 + 0.001);
        Assert.InRange(r.Cpu.Target, 0.5 * 1.15, 0.5 * 1.05 * 1.15 + 0.001);
        // Memory: never below the observed peak (300 MiB) plus 15 %.
        Assert.InRange(r.Memory.Target, 300 * Mib * 1.15, 300 * Mib * 1.15 * 1.06);
        Assert.Equal(300 * Mib, r.ObservedMemoryPeak, 0.01 * Mib);
        Assert.Equal("low", r.Confidence);
        Assert.True(r.UpperFactor > 3, $"an hour of history widens the upper bound a lot, got ×{r.UpperFactor}");
        Assert.Equal(1 - (300.0 / 1024), r.SlackToday.Memory, 2);
        Assert.Equal(1 - (300 * Mib / r.Memory.Target), r.SlackAfter.Memory, 3);
        Assert.Contains(r.Reasons, s => s.StartsWith("cpu: p90 of 360 samples over 60 min", StringComparison.Ordinal));
        // 300 MiB's bucket ends at 315 MiB; the percentile is capped at the highest peak held, which is exact.
        Assert.Contains(r.Reasons, s => s.StartsWith("memory: p90 of 1 daily peak over 60 min is 300 MiB", StringComparison.Ordinal));
        Assert.Equal(r.Recommended.MemoryBytes, (long)Math.Ceiling(r.Memory.Target / Mib) * Mib);
        // What --apply and auto would set: the target in hundredths of a core (a cgroup tier takes fractions), nothing clamped.
        Assert.Equal(Math.Ceiling((r.Cpu.Target * 100) - 1e-6) / 100, r.Recommended.CpuCores, 6);
        Assert.InRange(r.Recommended.CpuCores, 0.5, 0.99);
        Assert.Empty(r.Clamped);
        Assert.DoesNotContain(r.Reasons, s => s.StartsWith("clamped", StringComparison.Ordinal));

        var history = _sampler.History(InstanceService.DefaultProject, "web");
        Assert.Equal(360, history.Points.Count); // the ring holds the last hour
        Assert.All(history.Points, p => Assert.Equal(0.5, p.CpuCores, 3));
        Assert.All(history.Points, p => Assert.Equal(300 * Mib, p.MemoryBytes));
    }

    [Fact]
    public async Task ARoundRightAfterAnother_AddsNoSample_AndTheNextSpansFromTheKeptReading()
    {
        // A round that ran late is followed at once by the next (the timer's missed tick): CPU time moves in 10 ms
        // ticks, so a reading a few milliseconds after the last would read one tick as cores. It is not a sample.
        await _h.CreateAsync(User("late", memoryMib: 100, cores: 0.25));
        await _sampler.SampleOnceAsync(CancellationToken.None);
        _h.Time.Advance(TimeSpan.FromSeconds(10));
        await _sampler.SampleOnceAsync(CancellationToken.None);
        _h.Time.Advance(TimeSpan.FromMilliseconds(3));
        await _sampler.SampleOnceAsync(CancellationToken.None);
        _h.Time.Advance(TimeSpan.FromSeconds(10));
        await _sampler.SampleOnceAsync(CancellationToken.None);

        var history = _sampler.History(InstanceService.DefaultProject, "late");
        Assert.Equal(2, history.Points.Count);
        Assert.All(history.Points, p => Assert.Equal(0.25, p.CpuCores, 3));
        Assert.Equal(TimeSpan.FromSeconds(10.003), history.Points[1].Time - history.Points[0].Time);
    }

    [Fact]
    public async Task Histories_SurviveADaemonRestart_AndContinue()
    {
        await _h.CreateAsync(User("web", memoryMib: 200, cores: 0.2));
        await SampleAsync(100);
        var before = Assert.Single(_sampler.Recommend(InstanceService.DefaultProject));
        await _sampler.DisposeAsync(); // saves

        _sampler = NewSampler();
        await _sampler.InitializeAsync(CancellationToken.None);
        var after = Assert.Single(_sampler.Recommend(InstanceService.DefaultProject));
        Assert.Equal(before.Samples, after.Samples);
        Assert.Equal(before.Memory, after.Memory);
        Assert.Equal(before.CpuP90, after.CpuP90);

        await SampleAsync(11); // the first reading after the restart is a new CPU baseline
        Assert.Equal(before.Samples + 10, Assert.Single(_sampler.Recommend(InstanceService.DefaultProject)).Samples);
    }

    [Fact]
    public async Task OomKill_IsCounted_AndRaisesTheMemoryRecommendationAboveTheLimit()
    {
        // 100 MiB growing 600 MiB an hour under a 256 MiB limit: killed after about 16 minutes.
        await _h.CreateAsync(User("leak", memoryMib: 100, cores: 0.1, growthMibPerHour: 600, limit: 256 * Mib));
        await SampleAsync(120);
        await _h.ExpectEventsAsync("leak", "created", "started", "exited");
        Assert.Equal("oom-killed", _h.Service.Get(InstanceService.DefaultProject, "leak").Reason);
        await SampleAsync(1);

        var r = Assert.Single(_sampler.Recommend(InstanceService.DefaultProject));
        Assert.Equal(1, r.OomKills); // counted once, from the reading, not again from the exit
        Assert.True(r.Memory.Target >= 256 * Mib * 1.2, $"an OOM kill counts as a peak of 1.2 × the limit; target {r.Memory.Target / Mib:0} MiB");
        Assert.Contains(r.Reasons, s => s.StartsWith("1 OOM kill counted", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Apply_ResizesTheInstanceToItsRecommendation()
    {
        await _h.CreateAsync(User("web", memoryMib: 300, cores: 0.5, limit: 2048 * Mib));
        await Assert.ThrowsAsync<StrataException>(() => _sampler.ApplyAsync(InstanceService.DefaultProject, "web", CancellationToken.None));
        await SampleAsync(31);
        var r = Assert.Single(_sampler.Recommend(InstanceService.DefaultProject));

        var applied = await _sampler.ApplyAsync(InstanceService.DefaultProject, "web", CancellationToken.None);
        Assert.Equal(2048 * Mib, applied.Before.MemoryBytes);
        Assert.Equal(r.Recommended.MemoryBytes, applied.After.MemoryBytes);
        Assert.Equal(r.Recommended.CpuCores, applied.After.CpuCores, 6); // a fraction of a core: the fake tier takes it as a cgroup would
        Assert.InRange(applied.After.CpuCores, 0.5, 0.99);
        Assert.DoesNotContain("clamped", applied.Reason, StringComparison.Ordinal);
        var stats = await _h.Service.StatsAsync(InstanceService.DefaultProject, "web", CancellationToken.None);
        Assert.Equal(r.Recommended.MemoryBytes, stats.MemoryLimitBytes);
        Assert.Equal(new ResourcePair(applied.After.CpuCores, r.Recommended.MemoryBytes), Assert.Single(_sampler.Recommend(InstanceService.DefaultProject)).Current);
        Assert.Equal("running", _h.Service.Get(InstanceService.DefaultProject, "web").State.ToName());
    }

    [Fact]
    public async Task RemovedInstance_KeepsItsHistoryForAWeek_ThenItIsPruned()
    {
        await _h.CreateAsync(User("gone", memoryMib: 64, cores: 0.1));
        await SampleAsync(10);
        await _h.Service.DeleteAsync(InstanceService.DefaultProject, "gone", force: true, CancellationToken.None);
        await SampleAsync(7); // the round after the removal marks it; a minute has passed: saved
        var kept = Assert.Single(_sampler.Recommend(InstanceService.DefaultProject));
        Assert.Equal("removed", kept.State);
        Assert.Equal(9, kept.Samples);
        Assert.NotNull(Assert.Single(await _h.Store.ListUsageAsync()).RemovedAt);

        _h.Time.Advance(TimeSpan.FromDays(7));
        await _sampler.SaveAsync(CancellationToken.None);
        Assert.Empty(_sampler.Recommend(InstanceService.DefaultProject));
        Assert.Empty(await _h.Store.ListUsageAsync());
    }

    [Fact]
    public async Task AnotherProject_SeesNoHistory_AndTheSameNameIsNotFound()
    {
        await _h.CreateAsync(User("web", memoryMib: 300, cores: 0.5));
        await SampleAsync(5);

        Assert.Empty(_sampler.Recommend("other"));
        var e = Assert.Throws<StrataException>(() => _sampler.Recommend("other", ["web"]));
        Assert.Equal(ErrorKind.NotFound, e.Kind);
        Assert.Equal(ErrorKind.NotFound, Assert.Throws<StrataException>(() => _sampler.History("other", "web")).Kind);
        var sb = new System.Text.StringBuilder();
        _sampler.RenderMetrics(sb, "other");
        Assert.DoesNotContain("name=\"web\"", sb.ToString(), StringComparison.Ordinal);
        sb.Clear();
        _sampler.RenderMetrics(sb, InstanceService.DefaultProject);
        Assert.Contains("strata_instance_memory_working_set_bytes{name=\"web\",project=\"default\",tier=\"fake\",node=\"local\"} 314572800", sb.ToString(), StringComparison.Ordinal);
        Assert.Contains("strata_instance_cpu_seconds_total{name=\"web\",project=\"default\",tier=\"fake\",node=\"local\"} 20", sb.ToString(), StringComparison.Ordinal);
    }
}
