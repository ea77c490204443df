using System.Globalization;

namespace Strata.Bench.Core.Planning;

/// <summary>
/// The capacity planner behind <c>strata plan</c>: for one set of workloads, how many hosts of one size each of the
/// article's deployment models needs, and how full they are. Pure: the same request always gives the same report.
/// <list type="bullet">
/// <item><c>physical</c>: every workload on a host of its own (as many as its demand needs).</item>
/// <item><c>vm</c>: a VM each, sized at the declared limits in whole vCPUs, plus the vm tier's idle memory, packed.</item>
/// <item><c>containers</c>: each workload's use plus the container tier's idle memory, packed onto the hosts.</item>
/// <item><c>containers-in-vms</c>: one node VM per host (the host less the vm tier's memory and CPU factor), containers packed into them.</item>
/// <item><c>hybrid</c>: each workload on the advisor's tier (process, container and wasm by use; sandbox and vm as VMs), packed.</item>
/// </list>
/// Packing is <see cref="BinPacking.FirstFitDecreasing"/>.
/// </summary>
public static class CapacityPlanner
{
    public static readonly IReadOnlyList<string> ModelIds = ["physical", "vm", "containers", "containers-in-vms", "hybrid"];

    public static PlanReport Plan(PlanRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.HostCpus.Value <= 0 || request.HostMemoryBytes.Value <= 0)
        {
            throw new ArgumentException($"a host needs CPUs and memory above 0 (got {request.HostCpus.Text}, {request.HostMemoryBytes.Text}): pass --host-cpus and --host-memory");
        }
        if (request.Hosts is <= 0)
        {
            throw new ArgumentException($"--hosts must be 1 or more (got {request.Hosts})");
        }
        if (request.Workloads.Count == 0)
        {
            throw new ArgumentException($"{request.File} has no workloads to plan");
        }
        foreach (var tier in PlanInputs.Tiers)
        {
            if (!request.Costs.ContainsKey(tier))
            {
                throw new ArgumentException($"no costs for tier {tier}");
            }
        }
        var host = new BinSize(request.HostCpus.Value, (long)request.HostMemoryBytes.Value);
        var models = new List<ModelResult>
        {
            Physical(request, host),
            Packed(request, host, "vm", "a VM each",
                "each workload in a VM of its own, sized at its declared limits in whole vCPUs (the CPU factor included) plus the vm tier's idle memory, VMs packed onto hosts",
                _ => "vm"),
            Packed(request, host, "containers", "containers",
                "each workload's use (times the CPU factor) plus the container tier's idle memory, packed onto hosts",
                _ => "container"),
            ContainersInVms(request, host),
            Packed(request, host, "hybrid", "the advisor's hybrid",
                "each workload on the tier the advisor picks: process, container and wasm by use, sandbox and vm as VMs of their declared size, all packed onto hosts",
                w => w.Tier),
        };
        var figures = new List<PlanFigure> { request.HostCpus, request.HostMemoryBytes };
        foreach (var tier in PlanInputs.Tiers)
        {
            var c = request.Costs[tier];
            figures.AddRange([c.MemoryOverheadBytes, c.CpuFactor, c.StartMs]);
        }
        return new PlanReport
        {
            File = request.File,
            HostCpus = host.Cpu,
            HostMemoryBytes = host.MemoryBytes,
            Hosts = request.Hosts,
            Models = models,
            Workloads = request.Workloads,
            Figures = figures,
            Notes = request.Notes,
        };
    }

    /// <summary>What a workload takes on <paramref name="tier"/>: VM-like tiers get whole vCPUs and their declared memory.</summary>
    public static PackItem Allocation(PlanWorkload w, string tier, IReadOnlyDictionary<string, TierCostFigures> costs)
    {
        var c = costs[tier];
        var factor = c.CpuFactor.Value;
        var overhead = (long)c.MemoryOverheadBytes.Value;
        return tier is "vm" or "sandbox"
            ? new PackItem(w.Name, Math.Max(1, Math.Ceiling((w.SizeCpu * factor) - BinSize.Epsilon)), w.SizeMemoryBytes + overhead)
            : new PackItem(w.Name, w.Cpu.Value * factor, (long)w.MemoryBytes.Value + overhead);
    }

    private static ModelResult Physical(PlanRequest request, BinSize host)
    {
        var hosts = new List<PlannedHost>();
        foreach (var w in request.Workloads)
        {
            var n = (int)Math.Max(1, Math.Max(Math.Ceiling((w.Cpu.Value / host.Cpu) - BinSize.Epsilon), Math.Ceiling(w.MemoryBytes.Value / host.MemoryBytes)));
            for (var i = 0; i < n; i++)
            {
                hosts.Add(new PlannedHost(hosts.Count + 1, [w.Name], w.Cpu.Value / n, (long)(w.MemoryBytes.Value / n)));
            }
        }
        var process = request.Costs["process"];
        return Result(request, host, "physical", "a physical host each",
            "every workload alone on its own host (more than one when its use is larger than a host); nothing else shares it",
            hosts, unplaced: [], lowerBound: null, overheadMemory: 0,
            allocatedCpu: hosts.Count * host.Cpu, allocatedMemory: hosts.Count * (double)host.MemoryBytes,
            tiers: request.Workloads.ToDictionary(w => w.Name, _ => "physical"),
            start: (process.StartMs, "process"));
    }

    private static ModelResult Packed(PlanRequest request, BinSize host, string id, string title, string how, Func<PlanWorkload, string> tierOf)
    {
        var tiers = request.Workloads.ToDictionary(w => w.Name, tierOf);
        var items = request.Workloads.Select(w => Allocation(w, tiers[w.Name], request.Costs)).ToList();
        var packed = BinPacking.FirstFitDecreasing(items, host);
        var overhead = request.Workloads.Sum(w => (long)request.Costs[tiers[w.Name]].MemoryOverheadBytes.Value);
        var slowest = tiers.Values.Distinct().Select(t => (request.Costs[t].StartMs, t)).MaxBy(s => s.StartMs.Value);
        return Result(request, host, id, title, how, Hosts(packed), Unplaced(packed, host), BinPacking.LowerBound(items, host), overhead,
            packed.Bins.Sum(b => b.Cpu), packed.Bins.Sum(b => (double)b.MemoryBytes), tiers, slowest);
    }

    private static ModelResult ContainersInVms(PlanRequest request, BinSize host)
    {
        var vm = request.Costs["vm"];
        var node = new BinSize(host.Cpu / vm.CpuFactor.Value, host.MemoryBytes - (long)vm.MemoryOverheadBytes.Value);
        var tiers = request.Workloads.ToDictionary(w => w.Name, _ => "container");
        var items = request.Workloads.Select(w => Allocation(w, "container", request.Costs)).ToList();
        if (node.MemoryBytes <= 0)
        {
            return Result(request, host, "containers-in-vms", "containers in VMs", "a host this small cannot hold a node VM", [],
                [.. request.Workloads.Select(w => $"{w.Name}: a host of {BenchTables.Bytes(host.MemoryBytes)} cannot hold a node VM ({vm.MemoryOverheadBytes.Text} of its own)")],
                null, 0, 0, 0, tiers, (request.Costs["container"].StartMs, "container"));
        }
        var packed = BinPacking.FirstFitDecreasing(items, node);
        var containerOverhead = request.Workloads.Sum(_ => (long)request.Costs["container"].MemoryOverheadBytes.Value);
        var nodeVmOverhead = packed.Count * (long)vm.MemoryOverheadBytes.Value;
        // A node VM takes its whole host: the host's CPU and memory are allocated to it.
        return Result(request, host, "containers-in-vms", "containers in VMs (Kubernetes on VMs)",
            Inv($"one node VM per host (the host less the vm tier's idle memory, its CPUs divided by the vm CPU factor {vm.CpuFactor.Text}); each workload's use plus the container tier's idle memory packed into the node VMs"),
            Hosts(packed), Unplaced(packed, node), BinPacking.LowerBound(items, node), containerOverhead + nodeVmOverhead,
            packed.Count * host.Cpu, packed.Count * (double)host.MemoryBytes, tiers, (request.Costs["container"].StartMs, "container"));
    }

    private static List<PlannedHost> Hosts(PackResult packed) =>
        [.. packed.Bins.Select((b, i) => new PlannedHost(i + 1, [.. b.Items.Select(x => x.Id)], Math.Round(b.Cpu, 4), b.MemoryBytes))];

    private static List<string> Unplaced(PackResult packed, BinSize bin) =>
        [.. packed.TooLarge.Select(i => Inv($"{i.Id}: needs {PlanInputs.Cores(i.Cpu)} and {BenchTables.Bytes(i.MemoryBytes)}, more than one host offers ({PlanInputs.Cores(bin.Cpu)}, {BenchTables.Bytes(bin.MemoryBytes)}); plan with larger hosts (--host-cpus, --host-memory)"))];

    private static ModelResult Result(PlanRequest request, BinSize host, string id, string title, string how, IReadOnlyList<PlannedHost> hosts,
        IReadOnlyList<string> unplaced, int? lowerBound, long overheadMemory, double allocatedCpu, double allocatedMemory,
        IReadOnlyDictionary<string, string> tiers, (PlanFigure Figure, string Tier) start)
    {
        var placed = new HashSet<string>(hosts.SelectMany(h => h.Workloads), StringComparer.Ordinal);
        var useCpu = request.Workloads.Where(w => placed.Contains(w.Name)).Sum(w => w.Cpu.Value);
        var useMemory = request.Workloads.Where(w => placed.Contains(w.Name)).Sum(w => w.MemoryBytes.Value);
        var capacityCpu = hosts.Count * host.Cpu;
        var capacityMemory = hosts.Count * (double)host.MemoryBytes;
        return new ModelResult
        {
            Model = id,
            Title = title,
            How = how,
            HostsNeeded = hosts.Count,
            LowerBound = lowerBound,
            Fits = request.Hosts is { } n ? hosts.Count <= n && unplaced.Count == 0 : null,
            CpuUtilisation = Fraction(useCpu, capacityCpu),
            MemoryUtilisation = Fraction(useMemory, capacityMemory),
            CpuAllocated = Fraction(allocatedCpu, capacityCpu),
            MemoryAllocated = Fraction(allocatedMemory, capacityMemory),
            OverheadMemoryBytes = overheadMemory,
            StartMs = start.Figure.Value,
            StartTier = start.Tier,
            StartMeasured = start.Figure.Measured,
            Tiers = tiers,
            HostList = hosts,
            Unplaced = unplaced,
        };
    }

    private static double Fraction(double part, double whole) => whole <= 0 ? 0 : Math.Round(part / whole, 4);

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
