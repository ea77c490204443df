using Strata.Scheduler.Tests.Harness;

namespace Strata.Scheduler.Tests;

/// <summary>
/// <c>strata node drain</c> picks each target through the placement's own pipeline (<see cref="DrainPlanner"/>): what the
/// scorer picks, not the node with the most free memory, counting what the drain already sent.
/// </summary>
public sealed class DrainPlannerTests
{
    [Fact]
    public void BinPack_PicksTheFullerNodeThatFits_NotTheOneWithTheMostFreeMemory()
    {
        var snapshot = new ClusterBuilder()
            .Node("drained", n => n.Draining().RunsSized("web", 1, "1GiB"))
            .Node("full", n => n.Used(3, "6GiB"))   // 2 GiB free
            .Node("empty", n => n.Used(0, "1GiB"))  // 7 GiB free: the old rule's choice
            .Build();
        var scheduler = new Scheduler();
        var request = Ask.Container(1, "1GiB") with { Node = "drained" }; // pinned to the drained node: the drain drops the pin
        var target = Assert.Single(DrainPlanner.Plan(scheduler, snapshot, "drained", [request], seed: 1));
        Assert.Equal("full", target.Node);
        Assert.Null(target.Request.Node);
        // Exactly what the placement picks on the other nodes.
        var others = new ClusterSnapshot([.. snapshot.Nodes.Where(n => n.Name != "drained")]);
        Assert.Equal(scheduler.Place(others, request with { Node = null }, seed: 1).Node, target.Node);
        Assert.Equal(["empty", "full"], target.Explanation.Candidates.Select(c => c.Node).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Spread_PicksTheEmptierNodeByShare_WhereTheMostFreeMemoryIsElsewhere()
    {
        var snapshot = new ClusterBuilder()
            .Node("drained", n => n.Draining())
            .Node("big", n => n.Capacity(16, "64GiB").Used(12, "48GiB"))  // 16 GiB free, a quarter
            .Node("small", n => n.Capacity(4, "8GiB").Used(1, "2GiB"))    // 6 GiB free, three quarters
            .Build();
        var spread = new Scheduler(new SchedulerOptions { Algorithm = SchedulingAlgorithm.Spread });
        var target = Assert.Single(DrainPlanner.Plan(spread, snapshot, "drained", [Ask.Container(0.5, "512MiB")], seed: 7));
        Assert.Equal("small", target.Node);
        Assert.Equal("big", Assert.Single(DrainPlanner.Plan(new Scheduler(), snapshot, "drained", [Ask.Container(0.5, "512MiB")], seed: 7)).Node);
    }

    [Fact]
    public void EachTargetCountsWhatTheDrainAlreadySent_ANodeThatFitsNothingIsNamed()
    {
        var snapshot = new ClusterBuilder()
            .Node("drained", n => n.Draining())
            .Node("a", n => n.Used(0, "4GiB"))  // 4 GiB free
            .Node("b", n => n.Used(0, "1GiB"))  // 7 GiB free
            .Build();
        var targets = DrainPlanner.Plan(new Scheduler(), snapshot, "drained",
            [Ask.Container(1, "3GiB", "one"), Ask.Container(1, "3GiB", "two"), Ask.Container(1, "6GiB", "three")], seed: 3);
        Assert.Equal("a", targets[0].Node);   // bin-pack: the fuller node
        Assert.Equal("b", targets[1].Node);   // a has 1 GiB left after the first
        Assert.Null(targets[2].Node);         // 4 GiB left on b, 1 GiB on a, and the drained node is never a target
        Assert.Contains("memory", targets[2].Error, StringComparison.Ordinal);
    }
}
