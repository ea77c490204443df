using System.Globalization;
using Strata.Scheduler;

/// <summary>
/// A seeded, heterogeneous cluster and request stream for P6: node shapes of 4–32 cores, some nodes without the VM
/// tiers, some arm64, zone and disk labels, a few draining or offline, 0–30 % already used; requests of every tier
/// with constraints, anti-affinity and project restrictions mixed in, sized so the batch fills about two thirds of
/// the cluster's CPU (late placements meet full nodes, as in a real fill).
/// </summary>
internal static class SimulatedCluster
{
    private static readonly (int Cores, int Gib)[] Shapes = [(4, 16), (8, 32), (16, 64), (32, 128)];
    private static readonly string[] Zones = ["a", "b", "c"];

    public static ClusterSnapshot Nodes(int count, int seed)
    {
        var random = new Random(seed);
        var nodes = new NodeInfo[count];
        for (var i = 0; i < count; i++)
        {
            var (cores, gib) = Shapes[random.Next(Shapes.Length)];
            var capacity = new Resources(cores * 1000L, (long)gib << 30, 500L << 30, 32_768);
            var usedFraction = random.NextDouble() * 0.3;
            var used = new Resources((long)(capacity.CpuMillis * usedFraction), (long)(capacity.MemoryBytes * usedFraction), 20L << 30, 500);
            HashSet<string> tiers = random.Next(10) < 7 ? ["process", "container", "sandbox", "vm", "wasm"] : ["process", "container", "wasm"];
            nodes[i] = new NodeInfo
            {
                Name = "node-" + i.ToString("D5", CultureInfo.InvariantCulture),
                Version = 1,
                Capacity = capacity,
                Free = capacity - used,
                Tiers = tiers,
                Arch = random.Next(20) == 0 ? "aarch64" : "x86_64",
                Labels = new Dictionary<string, string>
                {
                    ["zone"] = Zones[random.Next(Zones.Length)],
                    ["disk"] = random.Next(2) == 0 ? "ssd" : "hdd",
                },
                Draining = random.Next(100) == 0,
                Offline = random.Next(200) == 0,
            };
        }
        return new ClusterSnapshot(nodes);
    }

    public static PlacementRequest[] Requests(int count, int seed)
    {
        var random = new Random(seed);
        var restricted = new ProjectPlacementRules { AllowedTiers = ["container", "wasm", "sandbox"] };
        var requests = new PlacementRequest[count];
        for (var i = 0; i < count; i++)
        {
            var roll = random.Next(100);
            var tier = roll < 55 ? "container" : roll < 70 ? "wasm" : roll < 85 ? "sandbox" : roll < 95 ? "vm" : "process";
            var request = new PlacementRequest
            {
                Name = "i" + i.ToString(CultureInfo.InvariantCulture),
                Tier = tier,
                Project = "p" + random.Next(50).ToString(CultureInfo.InvariantCulture),
                Resources = new Resources(100 * random.Next(1, 20), (64L << 20) * random.Next(1, 64), (1L << 30) * random.Next(0, 5), random.Next(0, 200)),
            };
            var extra = random.Next(100);
            request = extra switch
            {
                < 10 => request with { Constraints = [new LabelConstraint("zone", Zones[random.Next(Zones.Length)])] },
                < 15 => request with { Constraints = [new LabelConstraint("disk", "ssd")] },
                < 25 => request with { AntiAffinity = new AntiAffinity("g" + random.Next(1000).ToString(CultureInfo.InvariantCulture), Hard: false) },
                < 27 => request with { AntiAffinity = new AntiAffinity("h" + random.Next(5000).ToString(CultureInfo.InvariantCulture), Hard: true) },
                < 32 => request with { Arch = "x86_64" },
                < 37 when tier != "vm" && tier != "process" => request with { ProjectRules = restricted },
                _ => request,
            };
            requests[i] = request;
        }
        return requests;
    }
}
