using System.Text.Json;
using Strata.Bench.Core;
using Strata.Bench.Core.Planning;
using Strata.Contracts;

namespace Strata.Bench.Tests;

/// <summary>The capacity planner: bin packing, the five deployment models, where each number comes from.</summary>
public sealed class PlanTests
{
    private const long Gib = 1L << 30;
    private const long Mib = 1L << 20;

    [Fact]
    public void FirstFitDecreasing_FillsEachBinBeforeOpeningAnother_AndMatchesTheLowerBoundWhenItCan()
    {
        // Six items of half a bin's CPU: three bins, each exactly full.
        var items = Enumerable.Range(0, 6).Select(i => new PackItem($"w{i}", 2, 1 * Gib)).ToList();
        var packed = BinPacking.FirstFitDecreasing(items, new BinSize(4, 8 * Gib));

        Assert.Equal(3, packed.Count);
        Assert.All(packed.Bins, b => Assert.Equal(4, b.Cpu));
        Assert.Equal(3, BinPacking.LowerBound(items, new BinSize(4, 8 * Gib)));
    }

    [Fact]
    public void FirstFitDecreasing_PlacesLargestFirst_SoSmallItemsFillTheGaps()
    {
        // In file order first-fit would put the small ones together and strand the large: 0.3+0.3+0.3 | 0.7 | 0.7.
        // Decreasing puts 0.7+0.3 twice and the last 0.3 alone: 3 bins either way here, but every bin's CPU is
        // checked on both dimensions: memory is the binding one for the last item.
        var items = new[]
        {
            new PackItem("s1", 0.3, 1 * Gib), new PackItem("s2", 0.3, 1 * Gib), new PackItem("s3", 0.3, 1 * Gib),
            new PackItem("l1", 0.7, 1 * Gib), new PackItem("l2", 0.7, 1 * Gib),
        };
        var packed = BinPacking.FirstFitDecreasing(items, new BinSize(1, 4 * Gib));

        Assert.Equal(["l1", "s1"], packed.Bins[0].Items.Select(i => i.Id));
        Assert.Equal(["l2", "s2"], packed.Bins[1].Items.Select(i => i.Id));
        Assert.Equal(["s3"], packed.Bins[2].Items.Select(i => i.Id));
        Assert.Equal(3, BinPacking.LowerBound(items, new BinSize(1, 4 * Gib)));
    }

    [Fact]
    public void FirstFitDecreasing_RespectsBothDimensions_AndReportsWhatFitsNowhere()
    {
        // CPU would allow four per bin, memory only two.
        var items = Enumerable.Range(0, 4).Select(i => new PackItem($"m{i}", 0.25, 3 * Gib)).Append(new PackItem("huge", 0.1, 9 * Gib)).ToList();
        var packed = BinPacking.FirstFitDecreasing(items, new BinSize(1, 8 * Gib));

        Assert.Equal(2, packed.Count);
        Assert.All(packed.Bins, b => Assert.True(b.MemoryBytes <= 8 * Gib));
        Assert.Equal("huge", Assert.Single(packed.TooLarge).Id);
    }

    [Fact]
    public void FirstFitDecreasing_RandomItems_NeverOverfillsAndNeverBeatsTheLowerBound()
    {
        var random = new Random(21);
        for (var round = 0; round < 200; round++)
        {
            var bin = new BinSize(random.Next(2, 65), random.Next(4, 257) * Gib);
            var items = Enumerable.Range(0, random.Next(1, 60))
                .Select(i => new PackItem($"w{i}", Math.Round(random.NextDouble() * bin.Cpu * 0.6, 3), (long)(random.NextDouble() * bin.MemoryBytes * 0.6)))
                .ToList();
            var packed = BinPacking.FirstFitDecreasing(items, bin);

            Assert.Empty(packed.TooLarge);
            Assert.Equal(items.Count, packed.Bins.Sum(b => b.Items.Count));
            Assert.All(packed.Bins, b => Assert.True(b.Cpu <= bin.Cpu + 1e-6 && b.MemoryBytes <= bin.MemoryBytes, $"bin over: {b.Cpu} cores, {b.MemoryBytes} bytes"));
            Assert.True(packed.Count >= BinPacking.LowerBound(items, bin));
            // FFD's known bound for one dimension is 11/9 OPT + 6/9; in two it is looser. A packing more than twice
            // the lower bound (+1) would mean the first-fit search is broken.
            Assert.True(packed.Count <= (2 * BinPacking.LowerBound(items, bin)) + 1, $"{packed.Count} bins for lower bound {BinPacking.LowerBound(items, bin)}");
        }
    }

    [Fact]
    public void Plan_TenSmallWorkloads_PhysicalNeedsTenHosts_ContainersPackThemAndVmsPayTheirOverhead()
    {
        var workloads = Enumerable.Range(0, 10).Select(i => Workload($"w{i}", 0.5, 1 * Gib, "container")).ToList();
        var report = CapacityPlanner.Plan(Request(workloads, hostCpus: 4, hostMemory: 8 * Gib, PlanInputs.Costs(SampleReports.Known())));

        var physical = Model(report, "physical");
        var vm = Model(report, "vm");
        var containers = Model(report, "containers");
        var k8s = Model(report, "containers-in-vms");
        Assert.Equal(10, physical.HostsNeeded);
        Assert.Equal(0.125, physical.CpuUtilisation); // 0.5 of 4 cores each
        // A VM each: 1 whole vCPU (0.5 × 1.05 rounded up: the sample's sandbox ran under TCG, so the factor is assumed)
        // and 1 GiB + the vm tier's assumed 237.7 MiB: four per host by CPU.
        Assert.Equal(3, vm.HostsNeeded);
        Assert.Equal(1, vm.HostList[0].CpuAllocated / 4);
        // Containers: 0.5 × 1.03 cores and 1 GiB + 4 MiB each (measured in the sample): seven per host by CPU.
        Assert.Equal(2, containers.HostsNeeded);
        Assert.Equal(7, containers.HostList[0].Workloads.Count);
        Assert.Equal(10 * 4 * Mib, containers.OverheadMemoryBytes);
        // Node VMs lose the vm tier's memory and its CPU factor, so fewer containers per host than bare containers.
        Assert.True(k8s.HostsNeeded >= containers.HostsNeeded);
        Assert.True(k8s.OverheadMemoryBytes > containers.OverheadMemoryBytes);
        Assert.True(containers.CpuUtilisation > vm.CpuUtilisation && vm.CpuUtilisation > physical.CpuUtilisation);
        Assert.Equal("container", containers.StartTier);
        Assert.True(containers.StartMeasured);
        Assert.Equal(50, containers.StartMs);
        Assert.False(vm.StartMeasured); // the sample skipped the vm tier: assumed 4 s
    }

    [Fact]
    public void Plan_Hybrid_PutsEachWorkloadOnItsAdvisedTier()
    {
        var workloads = new[]
        {
            Workload("web", 0.5, 512 * Mib, "container"),
            Workload("erp", 2, 4 * Gib, "vm"),
            Workload("plugin", 0.25, 256 * Mib, "sandbox"),
            Workload("job", 0.25, 64 * Mib, "process"),
        };
        var costs = PlanInputs.Costs(SampleReports.Known());
        var report = CapacityPlanner.Plan(Request(workloads, 8, 16 * Gib, costs) with { Hosts = 1 });
        var hybrid = Model(report, "hybrid");

        Assert.Equal("vm", hybrid.Tiers["erp"]);
        Assert.Equal("sandbox", hybrid.Tiers["plugin"]);
        Assert.Equal(1, hybrid.HostsNeeded);
        Assert.True(hybrid.Fits);
        Assert.False(Model(report, "physical").Fits);
        // The sandbox gets a whole vCPU, the vm its 2 × 1.05 rounded up to 3; process and container their use.
        Assert.Equal(1 + 3 + (0.5 * 1.03) + (0.25 * 1.0), hybrid.HostList[0].CpuAllocated, 3);
        var overhead = (long)(costs["vm"].MemoryOverheadBytes.Value + costs["sandbox"].MemoryOverheadBytes.Value + costs["container"].MemoryOverheadBytes.Value + costs["process"].MemoryOverheadBytes.Value);
        Assert.Equal(overhead, hybrid.OverheadMemoryBytes);
        Assert.Equal("vm", hybrid.StartTier); // the slowest of the tiers used
    }

    [Fact]
    public void Plan_AWorkloadLargerThanAHost_IsUnplacedWithTheWayOut_AndPhysicalUsesTwoHosts()
    {
        var report = CapacityPlanner.Plan(Request([Workload("big", 6, 2 * Gib, "container")], 4, 8 * Gib, PlanInputs.Costs(null)));

        Assert.Equal(2, Model(report, "physical").HostsNeeded);
        var containers = Model(report, "containers");
        Assert.Equal(0, containers.HostsNeeded);
        Assert.Contains("--host-cpus", Assert.Single(containers.Unplaced), StringComparison.Ordinal);
        Assert.Contains(PlanTables.Notes(report), n => n.Contains("big: needs", StringComparison.Ordinal));
    }

    [Fact]
    public void Plan_BadInput_IsRefusedNamingTheProblem()
    {
        var costs = PlanInputs.Costs(null);
        Assert.Contains("--host-cpus", Assert.Throws<ArgumentException>(() => CapacityPlanner.Plan(Request([Workload("a", 1, Gib, "container")], 0, Gib, costs))).Message, StringComparison.Ordinal);
        Assert.Contains("no workloads", Assert.Throws<ArgumentException>(() => CapacityPlanner.Plan(Request([], 4, Gib, costs))).Message, StringComparison.Ordinal);
        Assert.Contains("--hosts", Assert.Throws<ArgumentException>(() => CapacityPlanner.Plan(Request([Workload("a", 1, Gib, "container")], 4, Gib, costs) with { Hosts = 0 })).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Costs_SayWhatWasMeasuredWhereAndWhatWasAssumedWithItsValue()
    {
        var costs = PlanInputs.Costs(SampleReports.Known());

        Assert.True(costs["container"].MemoryOverheadBytes.Measured);
        Assert.Equal(4 * Mib, costs["container"].MemoryOverheadBytes.Value);
        Assert.Contains("strata bench 2026-01-02", costs["container"].MemoryOverheadBytes.Source, StringComparison.Ordinal);
        Assert.True(costs["container"].StartMs.Measured);
        // The sample ran under TCG: the sandbox's 6x is emulation, and the plan says so instead of using it.
        Assert.False(costs["sandbox"].CpuFactor.Measured);
        Assert.Equal(PlanInputs.AssumedVirtualizationFactor, costs["sandbox"].CpuFactor.Value);
        Assert.Contains("6.00x here under TCG", costs["sandbox"].CpuFactor.Source, StringComparison.Ordinal);
        Assert.True(costs["sandbox"].MemoryOverheadBytes.Measured);
        // Wasm is never measured by strata bench; the vm tier was skipped in the sample.
        Assert.False(costs["wasm"].MemoryOverheadBytes.Measured);
        Assert.Contains("does not measure wasm", costs["wasm"].MemoryOverheadBytes.Source, StringComparison.Ordinal);
        Assert.False(costs["vm"].StartMs.Measured);
        Assert.All(PlanInputs.Costs(null).Values, c => Assert.False(c.MemoryOverheadBytes.Measured || c.CpuFactor.Measured || c.StartMs.Measured));
    }

    [Fact]
    public void Workloads_UseTheHistoryWhereOneExists_ElseTheDeclaredLimits_ElseAnAssumption()
    {
        var advice = new AdviseResponse(
        [
            new AdviseItem { Name = "web", Project = "default", Tier = "container", Resources = new ResourceSpec { Cpus = 2, MemoryBytes = Gib } },
            new AdviseItem { Name = "db", Project = "default", Tier = "container", Resources = new ResourceSpec { Cpus = 1, MemoryBytes = 2 * Gib } },
            new AdviseItem { Name = "bare", Project = "default", Tier = "container" },
            new AdviseItem { Name = "erp", Project = "default", Problem = new ProblemDetails { Status = 503, Detail = "vm is not available here" } },
        ]);
        var history = Recommendation("web", "default", cpu: 0.3, memory: 300 * Mib);
        var otherProjects = Recommendation("db", "other", cpu: 0.1, memory: 100 * Mib);

        var workloads = PlanInputs.Workloads(advice, [history, otherProjects], "app.yaml");

        var web = workloads.Single(w => w.Name == "web");
        Assert.True(web.MemoryBytes.Measured);
        Assert.Equal(300 * Mib, web.MemoryBytes.Value);
        Assert.Contains("usage history of instance web", web.Cpu.Source, StringComparison.Ordinal);
        Assert.Equal(2, web.SizeCpu); // a VM of it still gets its declared size
        var db = workloads.Single(w => w.Name == "db");
        Assert.False(db.MemoryBytes.Measured); // another project's history of the same name is not this workload's
        Assert.Equal(2 * Gib, db.MemoryBytes.Value);
        Assert.Contains("declared in app.yaml", db.MemoryBytes.Source, StringComparison.Ordinal);
        var bare = workloads.Single(w => w.Name == "bare");
        Assert.Equal(PlanInputs.DefaultCpu, bare.Cpu.Value);
        Assert.StartsWith("assumed", bare.Cpu.Source, StringComparison.Ordinal);
        var erp = workloads.Single(w => w.Name == "erp");
        Assert.Equal("vm", erp.Tier);
        Assert.Contains("vm is not available here", erp.TierNote, StringComparison.Ordinal);
    }

    [Fact]
    public void Report_TextJsonAndHtml_CarryTheSameNumbers()
    {
        var report = CapacityPlanner.Plan(Request(Enumerable.Range(0, 10).Select(i => Workload($"w{i}", 0.5, 1 * Gib, "container")).ToList(), 4, 8 * Gib, PlanInputs.Costs(SampleReports.Known())));

        var text = PlanTables.Text(report);
        var html = PlanTables.Html(report);
        var json = JsonSerializer.Serialize(report, PlanJsonContext.Default.PlanReport);
        var back = JsonSerializer.Deserialize(json, PlanJsonContext.Default.PlanReport)!;

        Assert.Equal(report.Models.Select(m => m.HostsNeeded), back.Models.Select(m => m.HostsNeeded));
        Assert.Matches(@"\n  a physical host each +10 +12\.5 %", text);
        Assert.Contains("measured", text, StringComparison.Ordinal);
        Assert.Contains("assumed", text, StringComparison.Ordinal);
        foreach (var measure in PlanTables.Measures)
        {
            Assert.Contains($"data-measure=\"{measure}\"", html, StringComparison.Ordinal);
        }
        Assert.Contains("data-target=\"containers\" data-value=\"2\"", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
    }

    internal static PlanWorkload Workload(string name, double cpu, long memory, string tier) => new()
    {
        Name = name,
        Tier = tier,
        Cpu = new PlanFigure($"{name} cpu", cpu, PlanInputs.Cores(cpu), false, "declared"),
        MemoryBytes = new PlanFigure($"{name} memory", memory, BenchTables.Bytes(memory), false, "declared"),
        SizeCpu = cpu,
        SizeMemoryBytes = memory,
    };

    internal static PlanRequest Request(IReadOnlyList<PlanWorkload> workloads, double hostCpus, long hostMemory, IReadOnlyDictionary<string, TierCostFigures> costs) => new()
    {
        File = "test.yaml",
        Workloads = workloads,
        HostCpus = new PlanFigure("host CPUs", hostCpus, PlanInputs.Cores(hostCpus), false, "given"),
        HostMemoryBytes = new PlanFigure("host memory", hostMemory, BenchTables.Bytes(hostMemory), false, "given"),
        Costs = costs,
    };

    private static ModelResult Model(PlanReport report, string id) => report.Models.Single(m => m.Model == id);

    private static InstanceRecommendation Recommendation(string name, string project, double cpu, long memory) => new()
    {
        Name = name, Project = project, Tier = "container", State = "running",
        Current = new ResourcePair(2, Gib),
        Cpu = new RecommendedRange(cpu, cpu, cpu), Memory = new RecommendedRange(memory, memory, memory),
        Recommended = new ResourcePair(cpu, memory),
        SlackToday = new SlackPair(0.5, 0.5), SlackAfter = new SlackPair(0.15, 0.15),
        Samples = 360, HistoryHours = 1, OomKills = 0, Confidence = "low", ConfidenceDays = 0.04,
        UpperFactor = 25, LowerFactor = 0.95, Margin = 0.15,
        CpuP50 = cpu, CpuP90 = cpu, CpuP95 = cpu, MemoryP50 = memory, MemoryP90 = memory, MemoryP95 = memory,
        ObservedMemoryPeak = memory, Forecast = "none", ForecastMemoryPeak = memory, Reasons = [],
    };
}
