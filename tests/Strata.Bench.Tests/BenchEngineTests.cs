using Strata.Bench.Core;
using Strata.Client;
using Strata.Contracts;
using Strata.Daemon.Tests;

namespace Strata.Bench.Tests;

/// <summary>The engine against a real in-process daemon on its fake tier: rounds, cleanup, cancellation.</summary>
public sealed class BenchEngineTests : IAsyncLifetime
{
    private InProcessDaemon _daemon = null!;
    private StrataClient _client = null!;

    private static BenchOptions FakeOnly => new()
    {
        Tiers = ["fake"],
        Runs = 4,
        SlowRuns = 1,
        DensityInstances = 2,
        Baselines = false,
        Snapshots = false,
    };

    public async Task InitializeAsync()
    {
        _daemon = await InProcessDaemon.StartAsync();
        _client = _daemon.Client();
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _daemon.DisposeAsync();
    }

    [Fact]
    public async Task RunAsync_FakeTier_MeasuresEveryRoundAndLeavesNoInstance()
    {
        var steps = new List<BenchProgress>();
        var report = await new BenchEngine(_client, FakeOnly, new ProcHostProbe(), new Collect(steps)).RunAsync(CancellationToken.None);

        var fake = Assert.Single(report.Targets);
        Assert.Equal("fake", fake.Name);
        Assert.Empty(fake.Errors);
        Assert.Equal(4, fake.Exit!.Count);
        Assert.Equal(4, fake.FirstOutput!.Count); // the fake's "echo" is output, seen on the attached stream
        Assert.True(fake.FirstOutput.MedianMs <= fake.Exit.MedianMs);
        Assert.Equal(2, fake.Density!.Started);
        Assert.Empty(report.Tiers); // the advisor's costs are for user tiers only
        Assert.Contains(steps, s => s.Message.Contains("round 4", StringComparison.Ordinal));
        Assert.Empty((await _client.ListAsync()).Items);
    }

    [Fact]
    public async Task RunAsync_CancelledMidway_StillRemovesEveryInstance()
    {
        using var cts = new CancellationTokenSource();
        var engine = new BenchEngine(_client, FakeOnly with { Runs = 50 }, new ProcHostProbe(), new Cancel(cts, "round 3"));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => engine.RunAsync(cts.Token));

        Assert.Empty((await _client.ListAsync()).Items);
    }

    [Fact]
    public async Task RunAsync_LeftoversOfAnEarlierRun_AreRemoved()
    {
        await _client.CreateAsync(new InstanceSpec { Name = "bench-old-fake-1", Tier = "fake", Args = ["sleep"], Labels = InstanceTracker.Labels("old") });
        await _client.CreateAsync(new InstanceSpec { Name = "keep-me", Tier = "fake", Args = ["sleep"] });

        var steps = new List<BenchProgress>();
        var report = await new BenchEngine(_client, FakeOnly with { Runs = 1 }, new ProcHostProbe(), new Collect(steps)).RunAsync(CancellationToken.None);

        Assert.Equal(["keep-me"], (await _client.ListAsync()).Items.Select(i => i.Name));
        // It says so: in the progress and in the report.
        Assert.Contains(steps, s => s.Message == "removed 1 leftover instance of an interrupted bench run: bench-old-fake-1");
        Assert.Contains("removed 1 leftover instance of an interrupted bench run: bench-old-fake-1", report.Notes);
        await _client.DeleteAsync("keep-me", force: true);
    }

    [Fact]
    public async Task RemoveLeftovers_TheCleanCommand_RemovesOnlyBenchInstancesAndNamesThem()
    {
        await _client.CreateAsync(new InstanceSpec { Name = "bench-old-fake-1", Tier = "fake", Args = ["sleep"], Labels = InstanceTracker.Labels("old") });
        await _client.CreateAsync(new InstanceSpec { Name = "bench-old-fake-2", Tier = "fake", Args = ["sleep"], Labels = InstanceTracker.Labels("older") }, start: false);
        await _client.CreateAsync(new InstanceSpec { Name = "keep-me", Tier = "fake", Args = ["sleep"] });

        var removed = await BenchEngine.RemoveLeftoversAsync(_client, CancellationToken.None);

        Assert.Equal(["bench-old-fake-1", "bench-old-fake-2"], removed.Order(StringComparer.Ordinal));
        Assert.Equal(["keep-me"], (await _client.ListAsync()).Items.Select(i => i.Name));
        Assert.Empty(await BenchEngine.RemoveLeftoversAsync(_client, CancellationToken.None));
        await _client.DeleteAsync("keep-me", force: true);
    }

    [Fact]
    public async Task RunAsync_UnknownTier_SaysWhichTiersExist()
    {
        var e = await Assert.ThrowsAsync<StrataException>(() => new BenchEngine(_client, FakeOnly with { Tiers = ["mainframe"] }, new ProcHostProbe()).RunAsync(CancellationToken.None));

        Assert.Contains("mainframe", e.Message, StringComparison.Ordinal);
        Assert.Contains("process", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void KernelScript_RunsInBusyboxSh_PrintsTheMarkerWithTwoUptimes()
    {
        var script = BenchEngine.KernelScript(1000).Replace("exec sleep 3600", "true", StringComparison.Ordinal);
        var psi = new System.Diagnostics.ProcessStartInfo("/bin/sh", ["-c", script]) { RedirectStandardOutput = true };
        using var p = System.Diagnostics.Process.Start(psi)!;
        var line = p.StandardOutput.ReadToEnd().Trim();
        p.WaitForExit();

        var parts = line.Split(' ');
        Assert.Equal(BenchEngine.CpuMarker, parts[0]);
        Assert.True(double.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture) >= double.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture));
    }

    private sealed class Collect(List<BenchProgress> steps) : IProgress<BenchProgress>
    {
        public void Report(BenchProgress value)
        {
            lock (steps)
            {
                steps.Add(value);
            }
        }
    }

    private sealed class Cancel(CancellationTokenSource cts, string when) : IProgress<BenchProgress>
    {
        public void Report(BenchProgress value)
        {
            if (value.Message.Contains(when, StringComparison.Ordinal))
            {
                cts.Cancel();
            }
        }
    }
}
