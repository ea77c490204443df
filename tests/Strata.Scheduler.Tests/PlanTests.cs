using Strata.Scheduler.Tests.Harness;

namespace Strata.Scheduler.Tests;

public sealed class PlanTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Plan_RandomClusterAndBatch_NeverOverfillsANode(int seed)
    {
        // Property: whatever the cluster and the batch, what a plan puts on a node fits in what was free there.
        var random = new Random(seed);
        var snapshot = new ClusterBuilder().Nodes(random.Next(50, 300), configure: (n, i) =>
        {
            var cores = random.Next(1, 17);
            var gib = random.Next(1, 65);
            n.Capacity(cores, $"{gib}GiB", "50GiB", 1000).Used(random.NextDouble() * cores, $"{random.NextDouble() * gib}GiB", "10GiB", random.Next(0, 500));
            if (random.Next(10) == 0)
            {
                n.Tiers("wasm", "container");
            }
            n.Label("zone", random.Next(3) == 0 ? "a" : "b");
        }).Build();
        var algorithm = seed % 2 == 0 ? SchedulingAlgorithm.Spread : SchedulingAlgorithm.BinPack;
        var scheduler = new Scheduler(new SchedulerOptions { Algorithm = algorithm, SamplingThreshold = 64 });
        var plan = scheduler.CreatePlan(snapshot, seed);
        string[] tiers = ["container", "vm", "wasm", "sandbox"];

        var outcomes = new List<PlacementOutcome>();
        for (var i = 0; i < 3_000; i++)
        {
            var request = Ask.For(tiers[random.Next(tiers.Length)], random.Next(1, 40) / 10.0, $"{random.Next(64, 8192)}MiB", $"{random.Next(0, 4)}GiB", random.Next(0, 100), name: $"i{i}");
            if (random.Next(5) == 0)
            {
                request = request with { AntiAffinity = new AntiAffinity($"g{random.Next(20)}", Hard: random.Next(2) == 0) };
            }
            if (random.Next(8) == 0)
            {
                request = request with { Constraints = [LabelConstraint.Parse("zone=a")] };
            }
            outcomes.Add(plan.Place(request));
        }

        Assert.Contains(outcomes, o => o.Placed);
        Assert.Contains(outcomes, o => !o.Placed); // the batch was big enough to fill the cluster
        Assert.Equal(outcomes.Count(o => o.Placed), plan.Placements.Count);
        foreach (var node in snapshot.Nodes)
        {
            var placed = plan.Placements.Where(p => p.Node == node.Name).ToList();
            var asked = placed.Aggregate(new Resources(0, 0), (sum, p) => sum + p.Request.Resources);
            Assert.True(node.Free.Covers(asked), $"node {node.Name}: {asked} placed, only {node.Free} was free");
            Assert.Equal(node.Free - asked, plan.FreeOn(node.Name));
            Assert.All(placed, p => Assert.Contains(p.Request.Tier, node.Tiers));
            // A hard anti-affinity placement never lands beside an earlier one of its group.
            for (var k = 0; k < placed.Count; k++)
            {
                if (placed[k].Request.AntiAffinity is { Hard: true } hard)
                {
                    Assert.DoesNotContain(placed.Take(k), p => p.Request.AntiAffinity?.Group == hard.Group);
                }
            }
        }
        Assert.True(scheduler.Verify(plan, snapshot).FullyAccepted);
        // The snapshot itself was not touched.
        Assert.All(snapshot.Nodes, n => Assert.Equal(n.Free, plan.Snapshot.Nodes.First(x => x.Name == n.Name).Free));
    }

    [Fact]
    public void Plan_HardAntiAffinity_SpreadsABatchAndFailsWhenNodesRunOut()
    {
        var snapshot = new ClusterBuilder().Nodes(3).Build();
        var plan = new Scheduler().CreatePlan(snapshot, seed: 1);
        var request = Ask.Container(0.5, "512MiB") with { AntiAffinity = new AntiAffinity("db") };

        var outcomes = plan.PlaceAll(Enumerable.Range(0, 4).Select(i => request with { Name = $"db-{i}" }));

        Assert.Equal(3, outcomes.Take(3).Select(o => o.Node).Distinct().Count());
        Assert.False(outcomes[3].Placed);
        PlacementAssert.Rejected(outcomes[3], "anti-affinity", "group already there", count: 3);
    }

    [Fact]
    public void Plan_BinPack_FillsOneNodeBeforeTheNext()
    {
        var snapshot = new ClusterBuilder().Nodes(3, configure: (n, _) => n.Capacity(2, "4GiB")).Build();
        var plan = new Scheduler().CreatePlan(snapshot, seed: 9);

        var nodes = plan.PlaceAll(Enumerable.Range(0, 6).Select(_ => Ask.Container(1, "2GiB"))).Select(o => o.Node).ToList();

        Assert.Equal(nodes[0], nodes[1]);
        Assert.Equal(nodes[2], nodes[3]);
        Assert.Equal(nodes[4], nodes[5]);
        Assert.Equal(3, nodes.Distinct().Count());
    }

    [Fact]
    public void Verify_NodeChangedAndNoLongerFits_RejectsItsPlacements_KeepsTheOthers()
    {
        var old = new ClusterBuilder()
            .Node("a", n => n.Capacity(4, "8GiB").Used(2, "4GiB").Version(10))
            .Node("b", n => n.Capacity(4, "8GiB").Used(1, "1GiB").Version(20))
            .Build();
        var scheduler = new Scheduler();
        var plan = scheduler.CreatePlan(old, seed: 1);
        plan.Place(Ask.Container(1, "1GiB", "x") with { Node = "a" });
        plan.Place(Ask.Container(1, "1GiB", "y") with { Node = "a" });
        plan.Place(Ask.Container(1, "1GiB", "z") with { Node = "b" });
        Assert.Equal([10L, 10L, 20L], plan.Placements.Select(p => p.NodeVersion));
        // Meanwhile another placement took 1.5 cores on a (version 11): x fits, x + y does not.
        var newer = new ClusterBuilder()
            .Node("a", n => n.Capacity(4, "8GiB").Used(3.5, "5GiB").Version(11))
            .Node("b", n => n.Capacity(4, "8GiB").Used(1, "1GiB").Version(20))
            .Build();

        var verdict = scheduler.Verify(plan, newer);

        Assert.False(verdict.FullyAccepted);
        Assert.Equal(["a"], verdict.RejectedNodes);
        Assert.Equal(["x", "y"], verdict.Rejected.Select(r => r.Placement.Request.Name));
        Assert.Equal("node a changed since the plan (version 10 → 11) and no longer fits instance 'x': node a: cpu 0.5 cores free < 1 core asked", verdict.Rejected[0].Reason);
        Assert.Equal(["z"], verdict.Accepted.Select(p => p.Request.Name));
    }

    [Fact]
    public void Verify_NodeChangedButStillFits_IsAccepted()
    {
        var old = new ClusterBuilder().Node("a", n => n.Version(1)).Build();
        var scheduler = new Scheduler();
        var plan = scheduler.CreatePlan(old, seed: 1);
        plan.PlaceAll([Ask.Container(1, "1GiB", "x"), Ask.Container(1, "1GiB", "y")]);
        var newer = new ClusterBuilder().Node("a", n => n.Used(1, "1GiB").Label("new", "label").Version(2)).Build();

        Assert.True(scheduler.Verify(plan, newer).FullyAccepted);
    }

    [Fact]
    public void Verify_NodeChangedToDrainingOrGone_IsRejected()
    {
        var old = new ClusterBuilder().Node("a").Node("b").Build();
        var scheduler = new Scheduler();
        var plan = scheduler.CreatePlan(old, seed: 1);
        plan.PlaceAll([Ask.Container(1, "1GiB", "x") with { Node = "a" }, Ask.Container(1, "1GiB", "y") with { Node = "b" }]);
        var newer = new ClusterBuilder().Node("a", n => n.Draining().Version(2)).Build();

        var verdict = scheduler.Verify(plan, newer);

        Assert.Empty(verdict.Accepted);
        Assert.Equal("node a changed since the plan (version 1 → 2) and no longer fits instance 'x': node a: draining (strata node undrain a to use it again)", verdict.Rejected[0].Reason);
        Assert.Equal("node b is no longer in the cluster", verdict.Rejected[1].Reason);
    }

    [Fact]
    public void Verify_UnchangedVersion_IsAcceptedWithoutRecheck()
    {
        // Same version means the node record is the one the plan saw: the plan's own accounting stands.
        var old = new ClusterBuilder().Node("a", n => n.Capacity(2, "2GiB").Version(5)).Build();
        var scheduler = new Scheduler();
        var plan = scheduler.CreatePlan(old, seed: 1);
        plan.PlaceAll([Ask.Container(1, "1GiB", "x"), Ask.Container(1, "1GiB", "y")]);

        var verdict = scheduler.Verify(plan, old);

        Assert.Equal(2, verdict.Accepted.Count);
    }
}
