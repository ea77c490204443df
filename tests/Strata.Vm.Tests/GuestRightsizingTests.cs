using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Strata.Client;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Control;
using Strata.Daemon;
using Strata.Node.Drivers.Vm;
using Strata.Rightsizing.Histograms;
using Strata.Testing;

namespace Strata.Vm.Tests;

/// <summary>
/// One in-process daemon (real QEMU under TCG, its usage sampler every 0.5 s) shared by the guest tiers' right-sizing
/// tests: the busybox base image and the guest's boot assets are built once.
/// </summary>
public sealed class GuestRightsizingDaemon : IAsyncLifetime
{
    private readonly TempDirectory _dir = new("rs21vm-guest");
    private DaemonHost? _host;

    public string Socket => _dir.Combine("s.sock");
    public IServiceProvider Services => _host!.Services;

    public async Task InitializeAsync()
    {
        if (VmFixture.Supervisor is null || !File.Exists("/usr/bin/qemu-system-x86_64"))
        {
            return; // each test says why it cannot run
        }
        _host = await DaemonHost.StartAsync(new DaemonOptions
        {
            Root = _dir.Combine("root"),
            Socket = Socket,
            Supervisor = VmFixture.Supervisor,
            UsageIntervalSeconds = 0.5,
            Node = "rs21vm",
        }, logging => logging.SetMinimumLevel(LogLevel.Warning));
        using var client = Client();
        await client.BuildBaseImageAsync("busybox");
    }

    public StrataClient Client() => new(new ClientOptions { Socket = Socket });

    /// <summary>Why an instance is not running, for a failure message: its state and exit, its log and the end of its guest's console.</summary>
    public async Task<string> WhyAsync(StrataClient client, string name)
    {
        var info = await client.GetAsync(name);
        var serial = Path.Combine(_dir.Combine("root"), "instances", info.Id, "serial.log");
        var console = File.Exists(serial) ? string.Join('\n', File.ReadLines(serial).TakeLast(30)) : "(no console log)";
        return $"{name} is {info.State} (exit {info.ExitCode}, {info.Reason}); its log: {await InstanceOutput.LogTextAsync(client, name)}\nits console:\n{console}";
    }

    /// <summary>The driver handle of a running instance (its directory holds the guest's sockets).</summary>
    public DriverHandle Handle(string name) =>
        Services.GetRequiredService<InstanceService>().List().Single(r => r.Name == name).Handle!;

    public async Task DisposeAsync()
    {
        if (_host is not null)
        {
            using (var client = Client())
            {
                foreach (var i in (await client.ListAsync()).Items)
                {
                    await client.DeleteAsync(i.Name, force: true);
                }
            }
            await _host.DisposeAsync();
        }
        _dir.Dispose();
    }
}

/// <summary>
/// Right-sizing of guests from their balloon's statistics: an over-provisioned VM is recommended far less memory
/// than it has, <c>recommend --apply</c> balloons it down, and it keeps running with less; a cold-booted sandbox
/// resizes the same way, one started from a template refuses (its RAM is the template's file).
/// </summary>
public sealed class GuestRightsizingTests(GuestRightsizingDaemon daemon, Xunit.Abstractions.ITestOutputHelper output) : IClassFixture<GuestRightsizingDaemon>
{
    private const long Mib = 1024 * 1024;
    private static readonly TimeSpan Boot = TimeSpan.FromSeconds(180);

    [SkippableFact]
    public async Task OverProvisionedVm_IsRecommendedLess_ApplyBalloonsItDown_AndItKeepsRunning()
    {
        VmFixture.RequireEngine();
        using var client = daemon.Client();
        await client.CreateAsync(new InstanceSpec
        {
            Name = "rs21vm-big", Tier = "vm", Image = "busybox:latest", NoTemplate = true,
            Resources = new ResourceSpec { MemoryBytes = 512 * Mib, Cpus = 1 },
            Args = GuestShell.Workload,
        });
        await using var shell = await GuestShell.ConnectAsync(VmDriver.ExecSocket(daemon.Handle("rs21vm-big")), TimeSpan.FromSeconds(30));
        var before = MemTotalKiB(await shell.RunAsync("cat /proc/meminfo", Boot));
        Assert.InRange(before, 400 * 1024, 512 * 1024);
        // The workload: 48 MiB held in a tmpfs (the guest cannot reclaim it) and a counter that goes on every 200 ms.
        // fallocate has the guest's kernel take the pages without copying 48 MiB through a pipe: under TCG a dd was a
        // burst of a whole core that a sample could catch, and it would be the CPU histogram's p90.
        Assert.Equal("", await shell.RunAsync("mkdir -p /r21 && mount -t tmpfs none /r21 && fallocate -l 48M /r21/fill"));
        await shell.RunAsync("(i=0; while true; do i=$((i+1)); echo $i > /r21/counter; usleep 200000; done) 3>&- >/dev/null 2>&1 &");

        // The sampler reads the guest's own figures (the balloon driver's, polled every 2 s): samples appear once the
        // guest has reported, and they are what the guest uses, not the 512 MiB it has nor QEMU's host memory.
        Assert.True(await TestEnvironment.EventuallyAsync(async () => await SamplesAsync(client, "rs21vm-big") > 0
            && (await client.UsageHistoryAsync("rs21vm-big")).Points.Count(p => p.MemoryBytes >= 48 * Mib) >= 8, TimeSpan.FromSeconds(120), TimeSpan.FromMilliseconds(500)),
            "the sampler never recorded the guest's use");
        // The cost of a round with one VM (QMP and /proc), for docs/rightsizing.md; not asserted.
        var sampler = daemon.Services.GetRequiredService<Strata.Control.Usage.UsageSampler>();
        var (rounds0, wall0) = sampler.RoundStatistics;
        await Task.Delay(TimeSpan.FromSeconds(5));
        var (rounds1, wall1) = sampler.RoundStatistics;
        output.WriteLine($"usage sampling, 1 VM: {(wall1 - wall0).TotalMicroseconds / Math.Max(1, rounds1 - rounds0):0} µs wall per round ({rounds1 - rounds0} rounds)");
        var stats = await client.StatsAsync("rs21vm-big");
        Assert.Equal(512 * Mib, stats.MemoryLimitBytes); // the balloon's size: all of it
        Assert.NotNull(stats.GuestMemoryTotalBytes);
        Assert.InRange(stats.GuestMemoryTotalBytes!.Value, 400 * Mib, 512 * Mib);
        // The working set is what the guest needs of the 512 MiB: what it uses plus what its kernel reserved at boot.
        Assert.InRange(stats.MemoryBytes - stats.GuestMemoryUsedBytes!.Value, 512 * Mib - stats.GuestMemoryTotalBytes.Value - Mib, 512 * Mib - stats.GuestMemoryTotalBytes.Value + Mib);
        Assert.InRange(stats.GuestMemoryUsedBytes.Value, 48 * Mib, 160 * Mib);
        Assert.True(stats.HostRssBytes > 0 && stats.HostPssBytes > 0, "QEMU's host memory is reported beside the guest's");

        var r = await client.RecommendationAsync("rs21vm-big");
        Assert.Equal("vm", r.Tier);
        Assert.Equal(512 * Mib, r.Current.MemoryBytes);
        Assert.InRange(r.Recommended.MemoryBytes, 64 * Mib, 256 * Mib); // well below the 512 MiB it has
        Assert.True(r.Recommended.MemoryBytes >= r.ObservedMemoryPeak * 1.15, "never below the observed peak plus margin");
        Assert.True(r.SlackToday.Memory > 0.5, $"slack today {r.SlackToday.Memory}");

        // CPU: QEMU's time, right-stamped. The idle guest (a counter every 200 ms) is the median, and the target stays
        // within the 1 vCPU it has (samples of the boot, before init started the workload, are not counted).
        var startedAt = (await client.GetAsync("rs21vm-big")).StartedAt ?? DateTimeOffset.MinValue;
        var points = (await client.UsageHistoryAsync("rs21vm-big")).Points;
        var cpuPoints = string.Join(", ", points.Select(p => $"{(p.Time - startedAt).TotalSeconds:0.0}s {p.CpuCores.ToString("0.###", CultureInfo.InvariantCulture)}"));
        var control = File.ReadAllText(Path.Combine(daemon.Handle("rs21vm-big").Directory, VmDriver.ControlFileName)).ReplaceLineEndings(" | ");
        var cpuSays = $"cpu {r.Recommended.CpuCores} (target {r.Cpu.Target}, p50 {r.CpuP50}, p90 {r.CpuP90}) from samples (seconds after the start, cores) {cpuPoints}; guest marks: {control}";
        output.WriteLine(cpuSays);
        Assert.True(points.All(p => p.CpuCores <= 1.5), "one vCPU and QEMU's own threads used more than 1.5 cores: " + cpuSays);
        // The histogram weighs each sample by its usage (VPA): the idle guest is the median only while the setup's
        // burst samples (exec, mount, fallocate under TCG) carry less than half of the weight.
        if (points.Where(p => p.CpuCores >= 0.3).Sum(p => p.CpuCores) < points.Sum(p => p.CpuCores) / 2)
        {
            Assert.True(r.CpuP50 < 0.3, "the idle guest is not the median: " + cpuSays);
        }
        // The target before the clamp (Recommended is in whole vCPUs, never fewer than the VM has) stays within the peak plus
        // margin. A percentile is the end of its histogram bucket, and near zero a bucket is far wider than 5 % of its
        // values (0.01 core × 1.05^n: [0.2158, 0.2366) holds a peak of 0.218), so the peak's bucket end is the bound.
        var peakBucketEnd = HistogramOptions.Cpu.BucketStart(HistogramOptions.Cpu.BucketOf(points.Max(p => p.CpuCores)) + 1);
        Assert.True(r.Cpu.Target <= Math.Max(0.025, peakBucketEnd * 1.15) + 0.001, $"the target {r.Cpu.Target} is above the end of the samples' peak's bucket ({peakBucketEnd}) plus margin: " + cpuSays);
        // What --apply sets is in whole vCPUs and never fewer than the VM's one (hot-plug adds, it cannot remove).
        Assert.Equal(Math.Max(1, Math.Ceiling(r.Cpu.Target - 1e-9)), r.Recommended.CpuCores);
        // The test's own setup (exec, mount, fallocate under TCG) can keep the one vCPU busy for a sample, which a young
        // history's usage-weighted p90 then follows; without such a burst the idle guest keeps its 1 vCPU.
        if (points.Max(p => p.CpuCores) < 0.8)
        {
            Assert.True(r.Recommended.CpuCores <= 1, "an idle guest is recommended more than its 1 vCPU: " + cpuSays);
        }
        var counter0 = Counter(await shell.RunAsync("cat /r21/counter"));
        var applied = await client.ApplyRecommendationAsync("rs21vm-big");
        output.WriteLine($"vm: {r.Samples} samples, recommended {r.Recommended.MemoryBytes / Mib} MiB of 512 (observed peak {r.ObservedMemoryPeak / Mib:0.#} MiB), cpu {r.Recommended.CpuCores}");
        Assert.Equal(512 * Mib, applied.Before.MemoryBytes);
        Assert.Equal(r.Recommended.MemoryBytes, applied.After.MemoryBytes);

        // The guest gives the memory back at its own pace: its MemTotal falls by what the balloon took.
        var target = r.Recommended.MemoryBytes / 1024;
        long after = before;
        Assert.True(await TestEnvironment.EventuallyAsync(async () =>
            (after = MemTotalKiB(await shell.RunAsync("cat /proc/meminfo"))) <= before - (512 * 1024 - target) + 16 * 1024,
            TimeSpan.FromSeconds(90), TimeSpan.FromMilliseconds(500)), $"MemTotal went from {before} KiB to {after} KiB; the balloon should have left about {target} KiB");
        // It keeps running: exec answers, the counter goes on, the tmpfs is whole.
        Assert.True(await TestEnvironment.EventuallyAsync(async () => Counter(await shell.RunAsync("cat /r21/counter")) > counter0 + 5, TimeSpan.FromSeconds(30)),
            "the guest's counter stopped after the balloon took its memory");
        Assert.Equal("50331648", (await shell.RunAsync("wc -c < /r21/fill")).Trim());
        Assert.Equal("running", (await client.GetAsync("rs21vm-big")).State);
        // The sampler now counts the ballooned size as the limit, and the recommendation starts from it.
        Assert.True(await TestEnvironment.EventuallyAsync(async () => (await client.StatsAsync("rs21vm-big")).MemoryLimitBytes == r.Recommended.MemoryBytes,
            TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(500)), "QEMU's balloon never reached the recommendation");
        Assert.Equal(r.Recommended.MemoryBytes, (await client.RecommendationAsync("rs21vm-big")).Current.MemoryBytes);
        var metrics = await client.GetTextAsync("metrics");
        Assert.Contains($"strata_instance_memory_limit_bytes{{name=\"rs21vm-big\",project=\"default\",tier=\"vm\",node=\"rs21vm\"}} {r.Recommended.MemoryBytes}", metrics, StringComparison.Ordinal);
        Assert.Contains("strata_instance_memory_working_set_bytes{name=\"rs21vm-big\",project=\"default\",tier=\"vm\"", metrics, StringComparison.Ordinal);

        await client.DeleteAsync("rs21vm-big", force: true);
    }

    [SkippableFact]
    public async Task Sandbox_ColdBootResizesThroughTheBalloon_TemplateCloneRefuses_BothAreSampled()
    {
        VmFixture.RequireEngine();
        using var client = daemon.Client();
        string[] idle = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"];
        // The cold one holds 80 MB in a shell variable, so there is a size the balloon must not take it to.
        string[] holding = ["sh", "-c", "x=$(head -c 80000000 /dev/zero | tr '\\0' a); trap 'exit 0' TERM; while true; do sleep 1; done"];
        await client.CreateAsync(new InstanceSpec { Name = "rs21vm-cold", Tier = "sandbox", Image = "busybox:latest", NoTemplate = true, Args = holding, Resources = new ResourceSpec { MemoryBytes = 320 * Mib } });
        await client.CreateAsync(new InstanceSpec { Name = "rs21vm-clone", Tier = "sandbox", Image = "busybox:latest", Args = idle, Resources = new ResourceSpec { MemoryBytes = 256 * Mib } });
        Assert.Contains("templateRam", daemon.Handle("rs21vm-clone").Data.Keys); // started from the image's template
        Assert.DoesNotContain("templateRam", daemon.Handle("rs21vm-cold").Data.Keys);

        // Both are sampled: the cold one from its guest's figures, the clone (no balloon driver) from QEMU's PSS.
        try
        {
            Assert.True(await TestEnvironment.EventuallyAsync(async () => await SamplesAsync(client, "rs21vm-cold") >= 3 && await SamplesAsync(client, "rs21vm-clone") >= 3
                && (await client.StatsAsync("rs21vm-cold")).GuestMemoryUsedBytes >= 80 * 1000 * 1000, Boot, TimeSpan.FromMilliseconds(500)), "the sandboxes were not sampled");
        }
        catch (StrataApiException e) when (e.Status == 409)
        {
            Assert.Fail($"{e.Message}: {await daemon.WhyAsync(client, "rs21vm-cold")}\n{await daemon.WhyAsync(client, "rs21vm-clone")}");
        }
        var cold = await client.StatsAsync("rs21vm-cold");
        Assert.NotNull(cold.GuestMemoryTotalBytes);
        Assert.True(cold.MemoryBytes >= cold.GuestMemoryUsedBytes, "the working set counts what the guest uses");
        var clone = await client.StatsAsync("rs21vm-clone");
        Assert.Null(clone.GuestMemoryTotalBytes);
        Assert.Equal(clone.HostPssBytes, clone.MemoryBytes);

        var starve = await Assert.ThrowsAsync<StrataApiException>(() => client.ResizeAsync("rs21vm-cold", 72 * Mib, null));
        Assert.Contains("less than the guest needs now", starve.Message, StringComparison.Ordinal);
        var before = (await client.StatsAsync("rs21vm-cold")).GuestMemoryTotalBytes!.Value;
        var resized = await client.ResizeAsync("rs21vm-cold", 224 * Mib, null);
        Assert.Equal(224 * Mib, resized.MemoryBytes); // answered once the guest gave the memory back
        Assert.True(await TestEnvironment.EventuallyAsync(async () => (await client.StatsAsync("rs21vm-cold")).GuestMemoryTotalBytes <= before - 90 * Mib,
            TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(500)), "the cold sandbox's guest never saw less memory");
        Assert.Equal(320 * Mib, resized.MaxMemoryBytes);
        Assert.Equal("running", (await client.GetAsync("rs21vm-cold")).State);
        var cpus = await Assert.ThrowsAsync<StrataApiException>(() => client.ResizeAsync("rs21vm-cold", null, 2));
        Assert.Contains("hot-plug", cpus.Message, StringComparison.Ordinal);

        var refused = await Assert.ThrowsAsync<StrataApiException>(() => client.ResizeAsync("rs21vm-clone", 160 * Mib, null));
        Assert.Equal(409, refused.Status);
        Assert.Contains("--no-template", refused.Message, StringComparison.Ordinal);
        Assert.Equal("running", (await client.GetAsync("rs21vm-clone")).State);

        await client.DeleteAsync("rs21vm-cold", force: true);
        await client.DeleteAsync("rs21vm-clone", force: true);
    }

    /// <summary>How many samples the instance's history holds (0 before its first).</summary>
    private static async Task<int> SamplesAsync(StrataClient client, string name)
    {
        try
        {
            return (await client.UsageHistoryAsync(name)).Points.Count;
        }
        catch (StrataApiException e) when (e.Status == 404)
        {
            return 0;
        }
    }

    private static long Counter(string text) => long.Parse(text.Trim(), CultureInfo.InvariantCulture);

    private static long MemTotalKiB(string meminfo) =>
        long.Parse(meminfo.Split('\n').First(l => l.StartsWith("MemTotal:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
}
