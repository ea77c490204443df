namespace Strata.Cluster.Tests;

/// <summary>The cluster's CPU baseline and the live-move CPU check: pure functions, in tables.</summary>
public sealed class CpuBaselineTests
{
    private const string Intel = "GenuineIntel";
    private const string Amd = "AuthenticAMD";

    private static NodeCpu Kvm(string vendor, string model, string flags, params string[] models) =>
        new() { Accelerator = "kvm", Vendor = vendor, ModelName = model, FlagsSha256 = flags, Models = models };

    private static readonly NodeCpu Tcg = new() { Accelerator = "tcg", Vendor = Intel, ModelName = "Intel Xeon", FlagsSha256 = "f0" };
    private static readonly NodeCpu SkylakeHost = Kvm(Intel, "Intel Xeon Gold 6130", "f1", "qemu64", "kvm64", "Nehalem", "Westmere", "SandyBridge", "Haswell", "Haswell-noTSX", "Broadwell", "Skylake-Client", "Skylake-Server", "Skylake-Server-v4");
    private static readonly NodeCpu HaswellHost = Kvm(Intel, "Intel Xeon E5-2680 v3", "f2", "qemu64", "kvm64", "Nehalem", "Westmere", "SandyBridge", "Haswell", "Haswell-noTSX");
    private static readonly NodeCpu EpycHost = Kvm(Amd, "AMD EPYC 7502", "f3", "qemu64", "kvm64", "Opteron_G3", "EPYC", "EPYC-Rome");

    public static TheoryData<string, (string, NodeCpu?)[], string?, string?> Baselines => new()
    {
        // case, nodes, expected model (null: none / TCG), a fragment of the conflict (null: none)
        { "empty cluster", [], null, null },
        { "only TCG nodes", [("a", Tcg), ("b", Tcg)], null, null },
        { "a node with no guest tier", [("a", null), ("b", SkylakeHost)], "Skylake-Server-v4", null },
        { "one KVM node: its newest model", [("a", SkylakeHost)], "Skylake-Server-v4", null },
        { "Skylake and Haswell: the newest both run", [("a", SkylakeHost), ("b", HaswellHost)], "Haswell", null },
        { "a TCG node does not lower the KVM nodes' baseline", [("a", SkylakeHost), ("b", HaswellHost), ("c", Tcg)], "Haswell", null },
        { "two AMD nodes", [("a", EpycHost), ("b", EpycHost with { FlagsSha256 = "f4", Models = ["qemu64", "EPYC"] })], "EPYC", null },
        { "vendor mismatch: no model", [("a", SkylakeHost), ("b", EpycHost)], null, "node a has Intel Xeon Gold 6130 (GenuineIntel, kvm) and node b has AMD EPYC 7502 (AuthenticAMD, kvm)" },
        { "identical hosts that published no models: host", [("a", Kvm(Intel, "X", "f9")), ("b", Kvm(Intel, "X", "f9"))], "host", null },
        { "unlike hosts without models: none", [("a", Kvm(Intel, "X", "f9")), ("b", Kvm(Intel, "Y", "f8", "Haswell"))], null, "node a (X (GenuineIntel, kvm)) published no QEMU CPU models" },
    };

    [Theory]
    [MemberData(nameof(Baselines))]
    public void Compute_PicksTheNewestModelEveryKvmNodeRuns(string name, (string, NodeCpu?)[] nodes, string? model, string? conflict)
    {
        var b = CpuBaseline.Compute(nodes);
        Assert.True(model == b.Model, $"{name}: expected {model ?? "(none)"}, got {b.Model ?? "(none)"} ({b.Conflict})");
        if (conflict is null)
        {
            Assert.Null(b.Conflict);
        }
        else
        {
            Assert.Contains(conflict, b.Conflict, StringComparison.Ordinal);
        }
        Assert.Equal(nodes.Where(n => n.Item2 is { Kvm: true }).Select(n => n.Item1).Order(StringComparer.Ordinal), b.Nodes);
    }

    [Fact]
    public void Describe_UnderTcgShowsQemusDefault()
    {
        Assert.Equal("qemu64 (TCG, QEMU's default)", CpuBaseline.Compute([("a", Tcg)]).Describe());
        Assert.StartsWith("none: node a has", CpuBaseline.Compute([("a", SkylakeHost), ("b", EpycHost)]).Describe(), StringComparison.Ordinal);
    }

    public static TheoryData<string, string, string?, NodeCpu?, NodeCpu?, string?> Moves => new()
    {
        // case, accelerator, model, source CPU, target CPU, a fragment of the refusal (null: it can run)
        { "TCG to TCG", "tcg", null, Tcg, Tcg, null },
        { "KVM guest to a TCG node", "kvm", "Haswell", HaswellHost, Tcg, "runs guests under TCG" },
        { "TCG guest to a KVM node", "tcg", null, Tcg, SkylakeHost, "runs under TCG and node b runs guests under KVM" },
        { "baseline model the target runs", "kvm", "Haswell", SkylakeHost, HaswellHost, null },
        { "a model the target lacks", "kvm", "Skylake-Server", SkylakeHost, HaswellHost, "node b (Intel Xeon E5-2680 v3 (GenuineIntel, kvm)) cannot run CPU model Skylake-Server" },
        { "another vendor", "kvm", "qemu64", SkylakeHost, EpycHost, "node a has Intel Xeon Gold 6130 (GenuineIntel, kvm) and node b has AMD EPYC 7502 (AuthenticAMD, kvm)" },
        { "host to the same CPU", "kvm", null, SkylakeHost, SkylakeHost, null },
        { "host to another CPU", "kvm", "host", SkylakeHost, HaswellHost, "runs with the host's own CPU (-cpu host) of node a" },
        { "a target that published no CPU", "kvm", "Haswell", HaswellHost, null, "runs guests under TCG" },
    };

    [Theory]
    [MemberData(nameof(Moves))]
    public void CannotRun_RefusesWhatTheTargetCannotRun(string name, string accel, string? model, NodeCpu? source, NodeCpu? target, string? refusal)
    {
        var why = CpuBaseline.CannotRun("web", accel, model, ("a", source), ("b", target));
        if (refusal is null)
        {
            Assert.True(why is null, $"{name}: refused: {why}");
        }
        else
        {
            Assert.True(why is not null && why.Contains(refusal, StringComparison.Ordinal), $"{name}: {why ?? "(allowed)"}");
        }
    }
}
