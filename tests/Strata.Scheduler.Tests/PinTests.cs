using Strata.Scheduler.Tests.Harness;

namespace Strata.Scheduler.Tests;

public sealed class PinTests
{
    [Fact]
    public void Pin_PlacesOnThePinnedNodeEvenWhenAnotherScoresBetter()
    {
        var snapshot = new ClusterBuilder().Node("empty").Node("fuller", n => n.Used(3, "6GiB")).Build();

        var outcome = new Scheduler().Place(snapshot, Ask.Container() with { Node = "empty" }, seed: 1);

        PlacementAssert.PlacedOn(outcome, "empty");
        Assert.Equal(1, outcome.Explanation.Visited);
    }

    [Fact]
    public void Pin_UnknownNode_SaysItIsNotInTheCluster()
    {
        var snapshot = new ClusterBuilder().Node("a").Build();

        var outcome = new Scheduler().Place(snapshot, Ask.Container() with { Node = "zz" }, seed: 1);

        Assert.False(outcome.Placed);
        Assert.Equal("no node can take instance 'web': node zz (--node) is not in the cluster; strata node ls lists the nodes", outcome.Error);
    }

    [Fact]
    public void Pin_PinnedNodeFull_ErrorNamesItsFactAndCountsTheOthers()
    {
        var snapshot = new ClusterBuilder().Nodes(4).Node("small", n => n.Capacity(1, "1GiB")).Build();

        var outcome = new Scheduler().Place(snapshot, Ask.Container(2, "512MiB") with { Node = "small" }, seed: 1);

        Assert.False(outcome.Placed);
        PlacementAssert.Rejected(outcome, "pin", "not the pinned node", count: 4);
        PlacementAssert.Rejected(outcome, "capacity", "cpu", fact: "node small: cpu 1 core free < 2 cores asked");
        Assert.Contains("all 5 nodes rejected — 4 by pin (not the pinned node); 1 by capacity (cpu), e.g. node small: cpu 1 core free < 2 cores asked", outcome.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void PinAndConstraint_BothMustHold()
    {
        var snapshot = new ClusterBuilder().Node("a", n => n.Label("zone", "x")).Node("b", n => n.Label("zone", "y")).Build();

        var outcome = new Scheduler().Place(snapshot, Ask.Container() with { Node = "a", Constraints = [LabelConstraint.Parse("zone=y")] }, seed: 1);

        Assert.False(outcome.Placed);
        PlacementAssert.Rejected(outcome, "constraint", "zone=y", fact: "node a: label zone=x, constraint zone=y asked");
    }
}
