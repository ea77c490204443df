using Strata.Contracts;
using Strata.Control.Projects;
using Strata.Control.Usage;
using Strata.Rightsizing.Policy;
using Strata.Store;

namespace Strata.Control.Tests;

/// <summary>
/// The <c>--rightsize</c> loop over the fake tier on the virtual clock: <c>auto</c> raises a growing workload's
/// memory limit ahead of it (never OOM-killed), an OOM kill raises the limit at once, <c>recommend</c> and
/// <c>off</c> never change anything, the mode changes later and follows the project's default; every change is a
/// <c>resized</c> event with its reason and is kept in the spec.
/// </summary>
public sealed class RightsizeLoopTests : IAsyncLifetime
{
    private const long Mib = 1024 * 1024;
    private readonly InstanceServiceHarness _h = new();
    private ProjectService _projects = null!;
    private UsageSampler _sampler = null!;

    public async Task InitializeAsync()
    {
        await _h.InitializeAsync();
        _projects = new ProjectService(_h.Store, _h.Time, _h.Drivers);
        await _projects.InitializeAsync(CancellationToken.None);
        _sampler = new UsageSampler(_h.Service, _h.Store, _h.Time, new UsageSamplerOptions
        {
            Interval = TimeSpan.FromSeconds(10),
            // 3 samples in a row (30 s), at most one change per 2 min: fast enough for 10 MiB a minute.
            Policy = new UsageSamplerOptions().Policy with { ConsecutiveSamples = 3, Cooldown = TimeSpan.FromMinutes(2) },
        }, projects: _projects);
        await _sampler.InitializeAsync(CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        await _sampler.DisposeAsync();
        await _h.DisposeAsync();
    }

    private static InstanceSpec User(string name, double memoryMib, double growthMibPerHour, long limit, string? rightsize) =>
        InstanceServiceHarness.Spec(name, "use", Invariant(memoryMib), "0.1", Invariant(growthMibPerHour)) with
        {
            Resources = new ResourceSpec { MemoryBytes = limit, Cpus = 1 },
            Rightsize = rightsize,
        };

    private static string Invariant(double v) => v.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private InstanceRecord Get(string name) => _h.Service.Get(InstanceService.DefaultProject, name);

    /// <summary>Sampling rounds every 10 s of virtual time; the resize events they caused.</summary>
    private async Task<List<InstanceEvent>> SampleAsync(int rounds, string name)
    {
        for (var i = 0; i < rounds; i++)
        {
            await _sampler.SampleOnceAsync(CancellationToken.None);
            _h.Time.Advance(TimeSpan.FromSeconds(10));
        }
        return [.. _h.UnreadEvents().Where(e => e.Instance == name && e.Type == "resized")];
    }

    [Fact]
    public async Task Auto_GrowingWorkload_HasItsMemoryLimitRaisedAheadOfIt_AndIsNeverOomKilled()
    {
        // 100 MiB growing 10 MiB a minute under 256 MiB: without right-sizing it is OOM-killed after 15.6 minutes.
        await _h.CreateAsync(User("leak", 100, 600, 256 * Mib, RightsizeModes.Auto));
        var resized = await SampleAsync(6 * 40, "leak"); // 40 minutes: it grows to 500 MiB

        var record = Get("leak");
        Assert.Equal(InstanceState.Running, record.State);
        Assert.True(resized.Count >= 2, $"the limit is raised again as the workload keeps growing; {resized.Count} changes");
        Assert.All(resized, e => Assert.Contains("right-sizing (resized)", e.Detail, StringComparison.Ordinal));
        var limit = record.Spec.Resources!.MemoryBytes!.Value;
        Assert.True(limit > 500 * Mib, $"the limit in the spec ({limit / Mib} MiB) stays ahead of the usage (500 MiB)");
        var stats = await _h.Service.StatsAsync(InstanceService.DefaultProject, "leak", CancellationToken.None);
        Assert.Equal(limit, stats.MemoryLimitBytes); // the tier has it: the spec is what was applied
        var r = Assert.Single(_sampler.Recommend(InstanceService.DefaultProject));
        Assert.Equal(0, r.OomKills);

        var status = _sampler.Status(record);
        Assert.Equal(("auto", "instance"), (status.Mode, status.Source));
        Assert.Equal("resized", status.LastChangeReason);
        Assert.Contains("memory", status.LastChangeExplanation, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Auto_OomKill_RaisesTheMemoryLimitAtOnce_AndTheNextStartHasIt()
    {
        // 300 MiB under 256 MiB: killed at the first reading.
        await _h.CreateAsync(User("big", 300, 0, 256 * Mib, RightsizeModes.Auto));
        await SampleAsync(1, "big");
        await _h.ExpectEventsAsync("big", "created", "started", "exited");
        Assert.Equal("oom-killed", Get("big").Reason);
        var resized = await SampleAsync(1, "big"); // the round that sees the exit

        var bump = Assert.Single(resized);
        Assert.Contains("right-sizing (oom-bump)", bump.Detail, StringComparison.Ordinal);
        var limit = Get("big").Spec.Resources!.MemoryBytes!.Value;
        Assert.True(limit >= 256 * Mib * 1.2, $"an OOM kill raises memory to at least 1.2 × the limit; {limit / Mib} MiB");
        Assert.Equal("oom-bump", _sampler.Status(Get("big")).LastChangeReason);

        await _h.Service.StartAsync(InstanceService.DefaultProject, "big", CancellationToken.None);
        await SampleAsync(3, "big");
        Assert.Equal(InstanceState.Running, Get("big").State); // 300 MiB fits the raised limit
    }

    [Fact]
    public async Task Recommend_NeverApplies_UntilTheModeIsChangedToAuto()
    {
        await _h.CreateAsync(User("web", 100, 600, 256 * Mib, RightsizeModes.Recommend));
        Assert.Empty(await SampleAsync(6 * 14, "web")); // 14 minutes: 240 MiB, well past the threshold
        var status = _sampler.Status(Get("web"));
        Assert.Equal(("recommend", null, null), (status.Mode, status.LastDecision, status.LastChange));
        Assert.True(Assert.Single(_sampler.Recommend(InstanceService.DefaultProject)).Recommended.MemoryBytes > 256 * Mib); // above the limit (≈ 238 MiB + 15 %): shown, not applied
        Assert.Equal(256 * Mib, Get("web").Spec.Resources!.MemoryBytes);

        await _h.Service.SetRightsizeAsync(InstanceService.DefaultProject, "web", RightsizeModes.Auto, CancellationToken.None);
        Assert.Contains(_h.UnreadEvents(), e => e.Instance == "web" && e.Type == "rightsize" && e.Detail == "right-sizing set to auto");
        Assert.NotEmpty(await SampleAsync(8, "web")); // off by > 10 % from ≈ 245 MiB, 3 rounds in a row, well before 256 MiB
        Assert.True(Get("web").Spec.Resources!.MemoryBytes > 256 * Mib);
        Assert.Equal(InstanceState.Running, Get("web").State);
    }

    [Fact]
    public async Task ProjectDefault_IsFollowedByInstancesWithoutTheirOwn_AndOffOverridesIt()
    {
        await _projects.SetRightsizeAsync(InstanceService.DefaultProject, RightsizeModes.Auto, CancellationToken.None);
        await _h.CreateAsync(User("follows", 100, 600, 256 * Mib, rightsize: null));
        await _h.CreateAsync(User("opted-out", 100, 600, 256 * Mib, RightsizeModes.Off));
        await SampleAsync(6 * 15, "follows");

        Assert.Equal(("auto", "project"), (_sampler.Status(Get("follows")).Mode, _sampler.Status(Get("follows")).Source));
        Assert.True(Get("follows").Spec.Resources!.MemoryBytes > 256 * Mib);
        Assert.Equal(("off", "instance", null), (_sampler.Status(Get("opted-out")).Mode, _sampler.Status(Get("opted-out")).Source, _sampler.Status(Get("opted-out")).LastChange));
        Assert.Equal(256 * Mib, Get("opted-out").Spec.Resources!.MemoryBytes);
        Assert.DoesNotContain(_h.UnreadEvents(), e => e.Instance == "opted-out" && e.Type == "resized");

        await Assert.ThrowsAsync<StrataException>(() => _projects.SetRightsizeAsync(InstanceService.DefaultProject, "sometimes", CancellationToken.None));
        await Assert.ThrowsAsync<StrataException>(() => _h.Service.SetRightsizeAsync(InstanceService.DefaultProject, "follows", "always", CancellationToken.None));
    }

    [Fact]
    public async Task ModeIsValidated_AtCreate()
    {
        var e = await Assert.ThrowsAsync<StrataException>(() => _h.CreateAsync(User("bad", 10, 0, 64 * Mib, "sometimes")));
        Assert.Equal("rightsize", e.Field);
        Assert.Contains("off, recommend or auto", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReasonNames_AreStable() =>
        Assert.Equal(["off", "recommend-only", "no-history", "within-threshold", "hysteresis", "cooldown", "resized", "oom-bump", "young-history"],
            Enum.GetValues<RightsizeReason>().Select(UsageSampler.ReasonName));
}
