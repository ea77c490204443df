using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Strata.Client;
using Strata.Contracts;
using Strata.Control.Usage;
using Strata.Daemon;

namespace Strata.Container.Tests;

/// <summary>
/// The usage sampler on the real container tier: memory sampled from the container's cgroup matches what the
/// workload allocated (48 MiB written to its /dev/shm, which the cgroup is charged for).
/// </summary>
[Collection(ContainerCollection.Name)]
public sealed class DaemonUsageSamplingTests(ContainerFixture fx, Xunit.Abstractions.ITestOutputHelper output)
{
    private const long Mib = 1024 * 1024;

    [SkippableFact]
    public async Task SampledMemory_MatchesAKnownAllocation()
    {
        fx.RequireEngine();
        var socket = Path.Combine(fx.Root, "r21u.sock");
        await using var host = await DaemonHost.StartAsync(new DaemonOptions
        {
            Root = Path.Combine(fx.Root, "r21usage"),
            Socket = socket,
            Supervisor = fx.Supervisor,
            Images = new Dictionary<string, string> { ["busybox"] = fx.Rootfs },
            UsageIntervalSeconds = 0, // the test drives the rounds
        }, logging => logging.ClearProviders());
        using var client = new StrataClient(new ClientOptions { Socket = socket });
        var sampler = host.Services.GetRequiredService<UsageSampler>();

        await client.CreateAsync(new InstanceSpec
        {
            Tier = "container", Image = "busybox", Name = "r21alloc", Resources = new ResourceSpec { MemoryBytes = 256 * Mib },
            Args = ["sh", "-c", "dd if=/dev/zero of=/dev/shm/r21 bs=1M count=48 2>/dev/null; trap 'exit 0' TERM; while true; do sleep 0.1; done"],
        });
        // Rounds until the allocation shows (the runtime is still starting the workload at first).
        await DaemonContainerTests.WaitUntilAsync(async () =>
        {
            await sampler.SampleOnceAsync(CancellationToken.None);
            var view = await client.UsageHistoryAsync("r21alloc");
            return view.Points.Count >= 3 && view.Points[^3].MemoryBytes >= 48 * Mib;
        });
        var points = (await client.UsageHistoryAsync("r21alloc")).Points;
        var settled = points.Where(p => p.MemoryBytes >= 48 * Mib).ToList();
        // 48 MiB of shared memory plus the shell, sleep and page tables: within 6 MiB above the allocation.
        Assert.All(settled, p => Assert.InRange(p.MemoryBytes, 48 * Mib, 54 * Mib));

        var r = await client.RecommendationAsync("r21alloc");
        Assert.Equal(256 * Mib, r.Current.MemoryBytes); // the cgroup's limit as the driver reads it
        Assert.InRange(r.ObservedMemoryPeak, 48 * Mib, 54 * Mib);
        Assert.True(r.Memory.Target >= r.ObservedMemoryPeak * 1.15, $"memory target {r.Memory.Target / Mib:0.#} MiB is below the peak plus 15 %");
        var metrics = await client.GetTextAsync("metrics");
        Assert.Contains("strata_instance_memory_limit_bytes{name=\"r21alloc\",project=\"default\",tier=\"container\",node=\"local\"} 268435456", metrics, StringComparison.Ordinal);

        // The cost of one round with one container, for docs/rightsizing.md ("Overhead of sampling"); not asserted.
        var (rounds0, wall0) = sampler.RoundStatistics;
        var cpu0 = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime;
        for (var i = 0; i < 500; i++)
        {
            await sampler.SampleOnceAsync(CancellationToken.None);
        }
        var cpu = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime - cpu0;
        var (rounds1, wall1) = sampler.RoundStatistics;
        output.WriteLine($"usage sampling, 1 container: {(wall1 - wall0).TotalMicroseconds / (rounds1 - rounds0):0} µs wall and {cpu.TotalMicroseconds / 500:0} µs process CPU per round ({rounds1 - rounds0} rounds)");

        await client.DeleteAsync("r21alloc", force: true);
    }
}
