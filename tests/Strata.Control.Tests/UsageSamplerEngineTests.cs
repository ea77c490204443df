using System.Diagnostics;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Control.Usage;
using Strata.Node.Drivers.Process;
using Strata.Node.Drivers.Wasm;
using Strata.Testing;

namespace Strata.Control.Tests;

/// <summary>
/// The usage sampler over the real process and wasm tiers (what is tested is how each engine is read): a busy
/// process in a memory cgroup and a wasm module that grew its linear memory to a known size and spins are sampled
/// into their histories, with their limits. The sampler's clock is the test's, moved on by the real time between
/// rounds, so CPU in cores is the engines' real use.
/// </summary>
public sealed class UsageSamplerEngineTests : IAsyncLifetime
{
    private const long Mib = 1024 * 1024;
    private const string CgroupParent = "rs21vm-sampler-test";

    /// <summary>Grows its linear memory from 1 to 320 pages (20 MiB) and spins.</summary>
    private const string GrowThenSpin = """
        (module
          (memory (export "memory") 1)
          (func (export "_start")
            (drop (memory.grow (i32.const 319)))
            (loop $l (br $l))))
        """;

    private readonly string _cache = Directory.CreateTempSubdirectory("rs21vm-wasm-cache-").FullName;
    private readonly InstanceServiceHarness _h;
    private UsageSampler _sampler = null!;

    public UsageSamplerEngineTests()
    {
        _h = new InstanceServiceHarness(_ =>
        [
            new WasmDriver(new WasmDriverOptions { CacheDirectory = _cache }, TimeProvider.System),
            new ProcessDriver(new ProcessDriverOptions { Supervisor = TestEnvironment.Supervisor, CgroupParent = CgroupParent }),
        ]);
    }

    public async Task InitializeAsync()
    {
        await _h.InitializeAsync();
        _sampler = new UsageSampler(_h.Service, _h.Store, _h.Time, new UsageSamplerOptions { Interval = TimeSpan.FromSeconds(1) });
        await _sampler.InitializeAsync(CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        foreach (var record in _h.Service.List())
        {
            await _h.Service.DeleteAsync(record.Project, record.Name, force: true, CancellationToken.None);
        }
        await _sampler.DisposeAsync();
        await _h.DisposeAsync();
        Strata.Node.Cgroups.CgroupSet.RemoveParentIfEmpty(CgroupParent);
        Directory.Delete(_cache, recursive: true);
    }

    /// <summary>A round every 300 ms of real time; the test's clock moves on by what really passed.</summary>
    private async Task SampleAsync(int rounds)
    {
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < rounds; i++)
        {
            await Task.Delay(300);
            _h.Time.Advance(watch.Elapsed);
            watch.Restart();
            await _sampler.SampleOnceAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task Wasm_LinearMemoryAndRunThreadCpu_AreSampledIntoHistory()
    {
        var module = Path.Combine(_cache, "grow.wat");
        await File.WriteAllTextAsync(module, GrowThenSpin);
        await _h.CreateAsync(new InstanceSpec { Name = "w", Tier = "wasm", Image = module, Resources = new ResourceSpec { MemoryBytes = 64 * Mib } });
        await SampleAsync(6);

        var points = _sampler.History(InstanceService.DefaultProject, "w").Points;
        Assert.True(points.Count >= 5, $"{points.Count} samples");
        // Exactly the module's linear memory once it has grown (the first reading may see the 64 KiB before the grow).
        Assert.Equal(320 * 64 * 1024, points[^1].MemoryBytes);
        Assert.All(points.Skip(1), p => Assert.Equal(320 * 64 * 1024, p.MemoryBytes));
        // It spins on its own thread: a real share of a core (the host is shared; the bar is low on purpose).
        Assert.True(points.Skip(1).Average(p => p.CpuCores) > 0.05, string.Join(", ", points.Select(p => p.CpuCores)));

        var r = Assert.Single(_sampler.Recommend(InstanceService.DefaultProject, ["w"]));
        Assert.Equal("wasm", r.Tier);
        Assert.Equal(64 * Mib, r.Current.MemoryBytes); // the spec's linear-memory limit, as the driver reports it
        Assert.InRange(r.ObservedMemoryPeak, 20 * Mib, 21 * Mib);
        var metrics = new System.Text.StringBuilder();
        _sampler.RenderMetrics(metrics, null);
        Assert.Contains("strata_instance_memory_working_set_bytes{name=\"w\",project=\"default\",tier=\"wasm\",node=\"local\"} 20971520", metrics.ToString(), StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Process_CgroupMemoryAndCpu_AreSampledIntoHistory()
    {
        TestEnvironment.Require(TestEnvironment.Supervisor is not null, "strata-supervisor is not built; run scripts/publish-native.sh");
        TestEnvironment.Require(TestEnvironment.IsRoot && Directory.Exists("/sys/fs/cgroup"), "the process tier's cgroups need root");
        // 24 MiB in a shell variable (held while it spins), in a 128 MiB memory cgroup.
        await _h.CreateAsync(new InstanceSpec
        {
            Name = "p", Tier = "process", Resources = new ResourceSpec { MemoryBytes = 128 * Mib },
            Args = ["/bin/sh", "-c", "x=$(head -c 25165824 /dev/zero | tr '\\0' a); while :; do :; done"],
        });
        await SampleAsync(8);

        var points = _sampler.History(InstanceService.DefaultProject, "p").Points;
        Assert.True(points.Count >= 7, $"{points.Count} samples");
        var last = points[^1];
        // The variable (24 MiB, held twice while the shell builds it, then once) plus the shell: within the cgroup's count.
        Assert.InRange(last.MemoryBytes, 24 * Mib, 96 * Mib);
        Assert.True(points.Skip(2).Average(p => p.CpuCores) > 0.05, string.Join(", ", points.Select(p => p.CpuCores)));

        var r = Assert.Single(_sampler.Recommend(InstanceService.DefaultProject, ["p"]));
        Assert.Equal("process", r.Tier);
        Assert.Equal(128 * Mib, r.Current.MemoryBytes); // the memory cgroup's limit
        Assert.True(r.ObservedMemoryPeak >= 24 * Mib, $"peak {r.ObservedMemoryPeak / Mib:0.#} MiB");
    }
}
