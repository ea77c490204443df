using System.Text.Json;
using Strata.Bench.Core;
using Strata.Bench.Core.Planning;
using Strata.Client;
using Strata.Contracts;
using Strata.Daemon.Tests;

namespace Strata.Bench.Tests;

/// <summary>
/// <c>strata plan</c>'s inputs through a real daemon (fake tier, TCP tokens): the stored bench report, the caller's
/// project's usage histories, the advice for the file. A second project's token plans the same file without the
/// first project's history.
/// </summary>
public sealed class PlanSourcesTests : IAsyncLifetime
{
    private const long Mib = 1024 * 1024;
    private const string File = """
        workloads:
          - name: plweb
            image: busybox
            resources: { cpus: 2, memory: 1G }
          - name: pldb
            image: busybox
            resources: { cpus: 1, memory: 2G }
        """;

    private InProcessDaemon _daemon = null!;
    private StrataClient _admin = null!;

    public async Task InitializeAsync()
    {
        _daemon = await InProcessDaemon.StartWithTcpAsync(o => o with { UsageIntervalSeconds = 0 });
        _admin = _daemon.Client();
    }

    public async Task DisposeAsync()
    {
        _admin.Dispose();
        await _daemon.DisposeAsync();
    }

    [Fact]
    public async Task Gather_UsesTheStoredBenchAndTheCallersHistory_AndASecondProjectSeesNoneOfIt()
    {
        await _admin.SaveBenchResultsAsync(JsonSerializer.Serialize(SampleReports.Known(), BenchJsonContext.Default.BenchReport));
        await _admin.CreateProjectAsync(new CreateProjectRequest { Name = "rs21pa" });
        await _admin.CreateProjectAsync(new CreateProjectRequest { Name = "rs21pb" });
        using var a = _daemon.Tcp((await _admin.CreateTokenAsync("rs21pa", ProjectRoles.Operator)).Token!);
        using var b = _daemon.Tcp((await _admin.CreateTokenAsync("rs21pb", ProjectRoles.Operator)).Token!);
        await a.CreateAsync(new InstanceSpec
        {
            Name = "plweb", Tier = "fake", Args = ["use", "300", "0.25"],
            Resources = new ResourceSpec { MemoryBytes = 1024 * Mib, Cpus = 2 },
        });
        await _daemon.SampleUsageAsync(4);

        var mine = await PlanSources.GatherAsync(a, File, "app.yaml", new PlanOptions(HostCpus: 8, HostMemoryBytes: 16L << 30));
        var theirs = await PlanSources.GatherAsync(b, File, "app.yaml", new PlanOptions());

        // Project a: plweb's memory is its history's recommendation (300 MiB used, at least peak + 15 %), not the 1 GiB declared.
        var web = mine.Workloads.Single(w => w.Name == "plweb");
        Assert.True(web.MemoryBytes.Measured, web.MemoryBytes.Source);
        Assert.InRange(web.MemoryBytes.Value, 300 * Mib * 1.15, 400 * Mib);
        Assert.Contains("usage history of instance plweb (rs21pa", web.MemoryBytes.Source, StringComparison.Ordinal);
        Assert.Equal(2, web.SizeCpu);
        Assert.False(mine.Workloads.Single(w => w.Name == "pldb").MemoryBytes.Measured);
        Assert.Contains(mine.Notes, n => n.StartsWith("1 of 2 workloads", StringComparison.Ordinal));
        // The stored bench report is this host's: measured for both projects.
        Assert.True(mine.Costs["container"].MemoryOverheadBytes.Measured);
        Assert.Equal("given (--host-cpus)", mine.HostCpus.Source);

        // Project b: the same file, the same names, and nothing of project a's history.
        var theirWeb = theirs.Workloads.Single(w => w.Name == "plweb");
        Assert.False(theirWeb.MemoryBytes.Measured);
        Assert.Equal(1024 * Mib, theirWeb.MemoryBytes.Value);
        Assert.DoesNotContain("rs21pa", JsonSerializer.Serialize(CapacityPlanner.Plan(theirs), PlanJsonContext.Default.PlanReport), StringComparison.Ordinal);
        Assert.True(theirs.HostCpus.Measured); // this host's size, from strata info
        Assert.True(theirs.Costs["container"].MemoryOverheadBytes.Measured);
        // Reading this host's bench results is open to a project token; storing them is not.
        var store = await Assert.ThrowsAsync<StrataApiException>(() => b.SaveBenchResultsAsync(JsonSerializer.Serialize(SampleReports.Known(), BenchJsonContext.Default.BenchReport)));
        Assert.Equal(ErrorKind.Forbidden, store.Kind);

        // The plan itself: as containers, a's web is packed at its measured use (about 700 MiB less than declared);
        // as a VM it keeps its declared 1 GiB, so the vm model reserves the same memory for both projects.
        var planA = CapacityPlanner.Plan(mine);
        var planB = CapacityPlanner.Plan(theirs with { HostCpus = mine.HostCpus, HostMemoryBytes = mine.HostMemoryBytes });
        long Reserved(PlanReport p, string model) => p.Models.Single(m => m.Model == model).HostList.Sum(h => h.MemoryAllocatedBytes);
        Assert.InRange(Reserved(planB, "containers") - Reserved(planA, "containers"), 500 * Mib, 700 * Mib);
        Assert.Equal(Reserved(planB, "vm"), Reserved(planA, "vm"));
    }

    [Fact]
    public async Task Gather_NoBenchResults_AssumesEveryCostAndSaysHowToMeasure()
    {
        var request = await PlanSources.GatherAsync(_admin, File, "app.yaml", new PlanOptions(Hosts: 2));

        Assert.All(request.Costs.Values, c => Assert.False(c.MemoryOverheadBytes.Measured));
        Assert.Contains(request.Notes, n => n.Contains("strata bench --quick", StringComparison.Ordinal));
        Assert.Equal(2, CapacityPlanner.Plan(request).Hosts);
    }

    [Fact]
    public async Task Gather_BadFileOrOptions_IsRefusedNamingTheLineOrOption()
    {
        var e = await Assert.ThrowsAsync<StrataApiException>(() => PlanSources.GatherAsync(_admin, "workloads:\n  - name: web\n    imag: busybox\n", "bad.yaml", new PlanOptions()));
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.Contains("line 3", e.Message, StringComparison.Ordinal);
        Assert.Contains("did you mean 'image'", e.Message, StringComparison.Ordinal);

        var hosts = await Assert.ThrowsAsync<StrataException>(() => PlanSources.GatherAsync(_admin, File, "app.yaml", new PlanOptions(Hosts: 0)));
        Assert.Contains("--hosts", hosts.Message, StringComparison.Ordinal);
        var cpus = await Assert.ThrowsAsync<StrataException>(() => PlanSources.GatherAsync(_admin, File, "app.yaml", new PlanOptions(HostCpus: -1)));
        Assert.Contains("--host-cpus", cpus.Message, StringComparison.Ordinal);
    }
}
