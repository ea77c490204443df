using Strata.Scheduler.Tests.Harness;

namespace Strata.Scheduler.Tests;

/// <summary>Every filter rejects with its plugin, a bounded reason and the node's fact; the other node takes the request.</summary>
public sealed class FilterTests
{
    private static PlacementOutcome PlaceBesideAGoodNode(Action<NodeBuilder> bad, PlacementRequest request)
    {
        // "bad" is fuller, so bin-pack would prefer it if the filter let it through.
        var snapshot = new ClusterBuilder()
            .Node("good")
            .Node("bad", n =>
            {
                n.Used(1, "1GiB");
                bad(n);
            })
            .Build();
        var outcome = new Scheduler().Place(snapshot, request, seed: 7);
        PlacementAssert.PlacedOn(outcome, "good");
        Assert.Equal(1, outcome.Explanation.Feasible);
        return outcome;
    }

    [Fact]
    public void NodeState_Offline_IsRejected() =>
        PlacementAssert.Rejected(PlaceBesideAGoodNode(n => n.Offline(), Ask.Container()), "node-state", "offline", fact: "node bad: offline (its lease expired)");

    [Fact]
    public void NodeState_Draining_IsRejected() =>
        PlacementAssert.Rejected(PlaceBesideAGoodNode(n => n.Draining(), Ask.Container()), "node-state", "draining",
            fact: "node bad: draining (strata node undrain bad to use it again)");

    [Fact]
    public void Tier_Unavailable_IsRejected() =>
        PlacementAssert.Rejected(PlaceBesideAGoodNode(n => n.Tiers("container", "wasm"), Ask.For("sandbox", 1, "1GiB")), "tier", "unavailable",
            fact: "node bad: tier sandbox not available (has container, wasm)");

    [Fact]
    public void Arch_Mismatch_IsRejected() =>
        PlacementAssert.Rejected(PlaceBesideAGoodNode(n => n.Arch("aarch64"), Ask.Container() with { Arch = "x86_64" }), "arch", "other arch",
            fact: "node bad: arch aarch64, the image needs x86_64");

    [Fact]
    public void Capacity_Cpu_IsRejected() =>
        PlacementAssert.Rejected(PlaceBesideAGoodNode(n => n.Used(3.5, "1GiB"), Ask.Container(1, "1GiB")), "capacity", "cpu",
            fact: "node bad: cpu 0.5 cores free < 1 core asked");

    [Fact]
    public void Capacity_Memory_IsRejected() =>
        PlacementAssert.Rejected(PlaceBesideAGoodNode(n => n.Used(1, "7.5GiB"), Ask.Container(1, "1GiB")), "capacity", "memory",
            fact: "node bad: memory 512 MiB free < 1 GiB asked");

    [Fact]
    public void Capacity_Disk_IsRejected() =>
        PlacementAssert.Rejected(PlaceBesideAGoodNode(n => n.Used(1, "1GiB", disk: "95GiB"), Ask.For("container", 1, "1GiB", disk: "10GiB")), "capacity", "disk",
            fact: "node bad: disk 5 GiB free < 10 GiB asked");

    [Fact]
    public void Capacity_Pids_IsRejected() =>
        PlacementAssert.Rejected(PlaceBesideAGoodNode(n => n.Used(1, "1GiB", pids: 4000), Ask.For("container", 1, "1GiB", pids: 512)), "capacity", "pids",
            fact: "node bad: pids 96 free < 512 asked");

    [Fact]
    public void Pin_OtherNodes_AreRejectedByCount() =>
        PlacementAssert.Rejected(PlaceBesideAGoodNode(_ => { }, Ask.Container() with { Node = "good" }), "pin", "not the pinned node");

    [Fact]
    public void Constraint_Equal_RejectsAnotherValueAndAMissingLabel()
    {
        var snapshot = new ClusterBuilder()
            .Node("ssd", n => n.Label("disk", "ssd"))
            .Node("hdd", n => n.Used(1, "1GiB").Label("disk", "hdd"))
            .Node("bare", n => n.Used(1, "1GiB"))
            .Build();

        var outcome = new Scheduler().Place(snapshot, Ask.Container() with { Constraints = [LabelConstraint.Parse("disk=ssd")] }, seed: 1);

        PlacementAssert.PlacedOn(outcome, "ssd");
        var group = PlacementAssert.Rejected(outcome, "constraint", "disk=ssd", count: 2);
        Assert.Contains("node hdd: label disk=hdd, constraint disk=ssd asked", group.Examples);
        Assert.Contains("node bare: no label disk, constraint disk=ssd asked", group.Examples);
    }

    [Fact]
    public void Constraint_NotEqual_RejectsTheValue() =>
        PlacementAssert.Rejected(PlaceBesideAGoodNode(n => n.Label("zone", "a"), Ask.Container() with { Constraints = [LabelConstraint.Parse("zone!=a")] }),
            "constraint", "zone!=a", fact: "node bad: label zone=a, constraint zone!=a asked");

    [Theory]
    [InlineData("disk")]
    [InlineData("=ssd")]
    [InlineData("disk=")]
    [InlineData("disk!=")]
    [InlineData(" = ")]
    public void Constraint_Malformed_SaysWhatIsExpected(string text)
    {
        var error = Assert.Throws<FormatException>(() => LabelConstraint.Parse(text));

        Assert.Contains("is not label=value or label!=value", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AntiAffinity_Hard_RejectsANodeRunningTheGroup() =>
        PlacementAssert.Rejected(PlaceBesideAGoodNode(n => n.Runs("web-0", group: "web"), Ask.Container() with { AntiAffinity = new AntiAffinity("web") }),
            "anti-affinity", "group already there", fact: "node bad: already runs 1 instance of anti-affinity group web");

    [Fact]
    public void AntiAffinity_AnotherProjectsGroupOfTheSameName_IsInvisible()
    {
        var snapshot = new ClusterBuilder()
            .Node("good")
            .Node("other-tenant", n => n.Used(1, "1GiB").Runs("web-0", project: "tenant-b", group: "web"))
            .Build();
        var request = Ask.Container() with { Project = "tenant-a", AntiAffinity = new AntiAffinity("web") };

        var outcome = new Scheduler().Place(snapshot, request, seed: 1);

        PlacementAssert.PlacedOn(outcome, "other-tenant");
        Assert.Empty(outcome.Explanation.Rejected);
    }

    [Fact]
    public void ProjectRestriction_TierNotAllowed_RejectsEveryNode()
    {
        var snapshot = new ClusterBuilder().Node("a").Node("b").Build();
        var request = Ask.For("process", 1, "1GiB") with { Project = "p", ProjectRules = new ProjectPlacementRules { AllowedTiers = ["container", "wasm"] } };

        var outcome = new Scheduler().Place(snapshot, request, seed: 1);

        Assert.False(outcome.Placed);
        var group = PlacementAssert.Rejected(outcome, "project", "tier not allowed", count: 2);
        Assert.StartsWith("node ", group.Examples[0], StringComparison.Ordinal);
        Assert.EndsWith(": project p may not use tier process (allowed: container, wasm)", group.Examples[0], StringComparison.Ordinal);
    }

    [Fact]
    public void ProjectRestriction_NodeNotAllowed_IsRejected() =>
        PlacementAssert.Rejected(PlaceBesideAGoodNode(_ => { }, Ask.Container() with { Project = "p", ProjectRules = new ProjectPlacementRules { AllowedNodes = ["good"] } }),
            "project", "node not allowed", fact: "node bad: not among project p's allowed nodes");

    [Fact]
    public void Plugins_ACustomFilter_RejectsWithItsOwnReason()
    {
        var snapshot = new ClusterBuilder().Node("good").Node("bad", n => n.Used(1, "1GiB").Label("gpu", "none")).Build();
        var scheduler = new Scheduler(filters: Scheduler.DefaultFilters().Append(new NeedsGpu()));

        var outcome = scheduler.Place(snapshot, Ask.Container(), seed: 1);

        PlacementAssert.PlacedOn(outcome, "good");
        PlacementAssert.Rejected(outcome, "gpu", "no gpu", fact: "node bad: no gpu");
    }

    private sealed class NeedsGpu : IFilterPlugin
    {
        public string Name => "gpu";

        public bool AppliesTo(PlacementRequest request) => true;

        public string? Reject(in NodeCandidate node, PlacementRequest request) =>
            node.Node.Labels.GetValueOrDefault("gpu") == "none" ? "no gpu" : null;

        public string Explain(in NodeCandidate node, PlacementRequest request, string reason) => $"node {node.Name}: no gpu";
    }
}
