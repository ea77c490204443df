using System.Globalization;

namespace Strata.Cluster;

/// <summary>
/// A node's CPU as it publishes it in its record: the accelerator its guests run under, the host CPU
/// (<c>/proc/cpuinfo</c>: vendor, model name, a digest of the flags) and, under KVM, the QEMU named CPU models this
/// host can run (<c>query-cpu-definitions</c> with no unavailable features).
/// </summary>
public sealed record NodeCpu
{
    /// <summary><c>kvm</c> or <c>tcg</c>.</summary>
    public string Accelerator { get; init; } = "tcg";
    /// <summary><c>GenuineIntel</c>, <c>AuthenticAMD</c> …; null when unknown.</summary>
    public string? Vendor { get; init; }
    public string? ModelName { get; init; }
    /// <summary>SHA-256 (hex) of the sorted <c>flags</c> line: two hosts with equal digests have the same features.</summary>
    public string? FlagsSha256 { get; init; }
    /// <summary>Under KVM, the QEMU models this host runs with every feature (empty under TCG, or when not probed).</summary>
    public IReadOnlyList<string> Models { get; init; } = [];

    public bool Kvm => string.Equals(Accelerator, "kvm", StringComparison.Ordinal);

    /// <summary>"Intel(R) Xeon(R) … (GenuineIntel, kvm)" for messages.</summary>
    public override string ToString() => $"{ModelName ?? "unknown CPU"} ({Vendor ?? "unknown vendor"}, {Accelerator})";
}

/// <summary>The CPU model guests started in the cluster use, and why.</summary>
/// <param name="Model">
/// The <c>-cpu</c> model for guests on KVM nodes (a QEMU named model, or <c>host</c> when every KVM node has the very
/// same CPU and no named model is known); null when no KVM node is online (TCG runs QEMU's default model everywhere) or
/// the KVM nodes have no model in common (<paramref name="Conflict"/> says why).
/// </param>
/// <param name="Nodes">The KVM nodes the baseline was computed over.</param>
/// <param name="Conflict">Why the KVM nodes share no model (a vendor mismatch names both nodes and CPUs); null otherwise.</param>
public sealed record ClusterCpuBaseline(string? Model, IReadOnlyList<string> Nodes, string? Conflict = null)
{
    /// <summary>QEMU's default x86 model under TCG (<c>qemu64</c>): what guests on a TCG node run.</summary>
    public const string TcgDefault = "qemu64";

    /// <summary>For display: the model, "qemu64 (TCG, QEMU's default)" when no node has KVM, or "none: …".</summary>
    public string Describe() => Conflict is not null ? "none: " + Conflict
        : Model ?? $"{TcgDefault} (TCG, QEMU's default)";
}

/// <summary>
/// The cluster's CPU baseline (libvirt's <c>cpu-baseline</c>, Nova's <c>cpu_mode=custom</c>, done over QEMU's named
/// models): a pure function of the nodes' published CPUs. Guests on KVM nodes start with the newest named model
/// every KVM node runs, so a live move between unlike hosts finds on the target the CPU the guest already has; and a
/// live move is refused before anything starts when the target cannot run the instance's model
/// (<see cref="CannotRun"/>).
/// </summary>
public static class CpuBaseline
{
    /// <summary>x86 model families from oldest to newest; a model's rank is its family's place here (longest prefix).</summary>
    private static readonly string[] Generations =
    [
        "qemu64", "kvm64", "qemu32", "kvm32", "core2duo", "coreduo", "pentium", "phenom", "athlon", "n270",
        "Opteron_G1", "Conroe", "Opteron_G2", "Penryn", "Opteron_G3", "Nehalem", "Westmere", "Opteron_G4", "SandyBridge",
        "Opteron_G5", "IvyBridge", "Haswell", "Broadwell", "Skylake-Client", "Skylake-Server", "EPYC", "Cascadelake-Server",
        "Dhyana", "EPYC-Rome", "Cooperlake", "Icelake-Client", "Icelake-Server", "EPYC-Milan", "SapphireRapids", "EPYC-Genoa",
    ];

    /// <summary>The baseline over <paramref name="nodes"/> (name and published CPU; a null CPU is a node that did not publish one).</summary>
    public static ClusterCpuBaseline Compute(IEnumerable<(string Node, NodeCpu? Cpu)> nodes)
    {
        var kvm = nodes.Where(n => n.Cpu is { Kvm: true }).OrderBy(n => n.Node, StringComparer.Ordinal).Select(n => (n.Node, Cpu: n.Cpu!)).ToList();
        if (kvm.Count == 0)
        {
            return new ClusterCpuBaseline(null, []);
        }
        var names = kvm.Select(n => n.Node).ToList();
        var first = kvm[0];
        if (kvm.FirstOrDefault(n => !string.Equals(n.Cpu.Vendor, first.Cpu.Vendor, StringComparison.Ordinal)) is { Node: not null } other)
        {
            return new ClusterCpuBaseline(null, names,
                $"node {first.Node} has {first.Cpu} and node {other.Node} has {other.Cpu}: no CPU model runs on both vendors, so guests use 'host' and live moves between them are refused");
        }
        var common = new HashSet<string>(first.Cpu.Models, StringComparer.Ordinal);
        foreach (var (_, cpu) in kvm.Skip(1))
        {
            common.IntersectWith(cpu.Models);
        }
        if (common.Count > 0)
        {
            return new ClusterCpuBaseline(common.MaxBy(Rank, RankComparer.Instance), names);
        }
        if (kvm.All(n => Same(n.Cpu, first.Cpu)))
        {
            return new ClusterCpuBaseline("host", names);
        }
        var without = kvm.FirstOrDefault(n => n.Cpu.Models.Count == 0);
        return new ClusterCpuBaseline(null, names, without.Node is not null
            ? $"node {without.Node} ({without.Cpu}) published no QEMU CPU models, and the KVM nodes' CPUs differ; guests use 'host' and live moves between unlike nodes are refused"
            : $"the KVM nodes ({string.Join(", ", kvm.Select(n => $"{n.Node}: {n.Cpu}"))}) run no QEMU CPU model in common; guests use 'host' and live moves between unlike nodes are refused");
    }

    /// <summary>
    /// Why a guest started with <paramref name="model"/> under <paramref name="accelerator"/> on <paramref name="source"/>
    /// cannot run on <paramref name="target"/>; null when it can. A null model is <c>host</c> under KVM and QEMU's
    /// default under TCG.
    /// </summary>
    public static string? CannotRun(string instance, string accelerator, string? model, (string Node, NodeCpu? Cpu) source, (string Node, NodeCpu? Cpu) target)
    {
        var to = target.Cpu ?? new NodeCpu();
        if (!string.Equals(to.Accelerator, accelerator, StringComparison.Ordinal))
        {
            return $"instance '{instance}' runs under {accelerator.ToUpperInvariant()} and node {target.Node} runs guests under {to.Accelerator.ToUpperInvariant()} ({to}): a guest's CPU state does not move between accelerators; name a node with {accelerator.ToUpperInvariant()} (strata node ls)";
        }
        if (!string.Equals(accelerator, "kvm", StringComparison.Ordinal))
        {
            return null; // TCG emulates the same default model everywhere
        }
        var from = source.Cpu ?? new NodeCpu { Accelerator = "kvm" };
        if (from.Vendor is not null && to.Vendor is not null && !string.Equals(from.Vendor, to.Vendor, StringComparison.Ordinal))
        {
            return $"node {source.Node} has {from} and node {target.Node} has {to}: instance '{instance}' (CPU model {model ?? "host"}) cannot run on another vendor's CPU; name a node with a {from.Vendor} CPU (strata node ls)";
        }
        if (model is null or "host")
        {
            return Same(from, to) ? null
                : $"instance '{instance}' runs with the host's own CPU (-cpu host) of node {source.Node} ({from}), and node {target.Node} has another CPU ({to}); only a node with the same CPU can take it live (stop and start it to get the cluster's baseline model)";
        }
        return to.Models.Contains(model, StringComparer.Ordinal) ? null
            : $"node {target.Node} ({to}) cannot run CPU model {model} that instance '{instance}' uses (it runs {(to.Models.Count == 0 ? "no named model" : string.Join(", ", to.Models))}); name another node (strata node ls)";
    }

    private static bool Same(NodeCpu a, NodeCpu b) =>
        string.Equals(a.Vendor, b.Vendor, StringComparison.Ordinal) && string.Equals(a.ModelName, b.ModelName, StringComparison.Ordinal)
        && a.FlagsSha256 is not null && string.Equals(a.FlagsSha256, b.FlagsSha256, StringComparison.Ordinal);

    /// <summary>(family generation, version, name): <c>Skylake-Server-v4</c> above <c>Skylake-Server</c> above <c>Broadwell</c>; unknown families lowest.</summary>
    private static (int Generation, int Version, string Name) Rank(string model)
    {
        var generation = -1;
        var length = 0;
        for (var i = 0; i < Generations.Length; i++)
        {
            var family = Generations[i];
            if (family.Length > length && model.StartsWith(family, StringComparison.Ordinal)
                && (model.Length == family.Length || model[family.Length] == '-'))
            {
                generation = i;
                length = family.Length;
            }
        }
        var version = 0;
        var v = model.LastIndexOf("-v", StringComparison.Ordinal);
        if (v > 0 && int.TryParse(model.AsSpan(v + 2), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
        {
            version = n;
        }
        return (generation, version, model);
    }

    private sealed class RankComparer : IComparer<(int Generation, int Version, string Name)>
    {
        public static readonly RankComparer Instance = new();

        public int Compare((int Generation, int Version, string Name) x, (int Generation, int Version, string Name) y)
        {
            var c = x.Generation.CompareTo(y.Generation);
            if (c == 0)
            {
                c = x.Version.CompareTo(y.Version);
            }
            // Of two equal ranks the shorter name (the plain model, not a -noTSX/-IBRS variant) wins, then the ordinal order.
            return c != 0 ? c : y.Name.Length != x.Name.Length ? y.Name.Length.CompareTo(x.Name.Length) : string.CompareOrdinal(y.Name, x.Name);
        }
    }
}
