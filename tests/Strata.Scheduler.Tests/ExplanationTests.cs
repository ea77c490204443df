using System.Text.Json;
using Strata.Scheduler.Tests.Harness;

namespace Strata.Scheduler.Tests;

public sealed class ExplanationTests
{
    [Fact]
    public void Place_NoFeasibleNode_ErrorListsTheReasonsByCount()
    {
        var snapshot = new ClusterBuilder()
            .Nodes(6, "full", (n, _) => n.Used(1, "7.5GiB"))
            .Nodes(3, "wasm-only", (n, _) => n.Tiers("wasm"))
            .Node("gone", n => n.Offline())
            .Build();

        var outcome = new Scheduler().Place(snapshot, Ask.Container(2, "1GiB", name: "api"), seed: 1);

        Assert.False(outcome.Placed);
        Assert.Null(outcome.Explanation.Node);
        Assert.Empty(outcome.Explanation.Candidates);
        Assert.Equal(10, outcome.Explanation.Visited);
        Assert.Equal(["capacity", "tier", "node-state"], outcome.Explanation.Rejected.Select(g => g.Plugin));
        Assert.Equal([6, 3, 1], outcome.Explanation.Rejected.Select(g => g.Count));
        var error = outcome.Error!;
        Assert.StartsWith("no node can take instance 'api' (tier container; cpu 2 cores, memory 1 GiB): all 10 nodes rejected — 6 by capacity (memory), e.g. node full", error, StringComparison.Ordinal);
        Assert.Contains(": memory 512 MiB free < 1 GiB asked; 3 by tier (unavailable), e.g. node wasm-only", error, StringComparison.Ordinal);
        Assert.Contains("; 1 by node-state (offline), e.g. node gone: offline (its lease expired).", error, StringComparison.Ordinal);
        Assert.EndsWith("Free capacity, add a node, or relax --node, --constraint, the anti-affinity group or the project's restrictions.", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Explanation_ReadLater_ShowsTheNodeAsItWasWhenRejected()
    {
        var snapshot = new ClusterBuilder().Node("small", n => n.Capacity(4, "1GiB")).Node("big", n => n.Capacity(4, "16GiB")).Build();
        var plan = new Scheduler().CreatePlan(snapshot, seed: 1);

        var first = plan.Place(Ask.Container(1, "2GiB", "first"));
        plan.Place(Ask.Container(1, "512MiB", "second") with { Node = "small" });

        PlacementAssert.PlacedOn(first, "big");
        PlacementAssert.Rejected(first, "capacity", "memory", fact: "node small: memory 1 GiB free < 2 GiB asked");
        Assert.Equal(Resources.Bytes(512L << 20), Resources.Bytes(plan.FreeOn("small").MemoryBytes));
    }

    [Fact]
    public void Place_NegativeResources_IsRefusedNamingTheRequest()
    {
        var snapshot = new ClusterBuilder().Node("a").Build();

        var error = Assert.Throws<ArgumentException>(() => new Scheduler().Place(snapshot, Ask.Container(-1, "1GiB", "bad"), seed: 1));

        Assert.StartsWith("instance 'bad' asks for cpu -1 cores, memory 1 GiB", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Place_EmptyCluster_SaysSo()
    {
        var outcome = new Scheduler().Place(new ClusterSnapshot([]), Ask.Container(), seed: 1);

        Assert.False(outcome.Placed);
        Assert.Contains("the cluster has no nodes", outcome.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Place_TenThousandRejectedNodes_ExplanationStaysSmall()
    {
        var snapshot = new ClusterBuilder().Nodes(10_000, configure: (n, i) =>
        {
            if (i % 2 == 0)
            {
                n.Used(4, "1GiB");
            }
            else
            {
                n.Tiers("vm");
            }
        }).Build();

        var outcome = new Scheduler().Place(snapshot, Ask.Container(), seed: 1);

        Assert.False(outcome.Placed);
        Assert.Equal(10_000, outcome.Explanation.Visited);
        Assert.Equal([5_000, 5_000], outcome.Explanation.Rejected.Select(g => g.Count));
        Assert.All(outcome.Explanation.Rejected, g => Assert.Equal(3, g.Examples.Count));
        var json = JsonSerializer.Serialize(outcome.Explanation, SchedulerJson.Default.PlacementExplanation);
        Assert.True(json.Length < 2_000, $"explanation of 10,000 rejected nodes is {json.Length} characters: {json}");
    }

    [Fact]
    public void Place_TenThousandFeasibleNodesWithoutSampling_ListsOnlyTheBestCandidates()
    {
        var snapshot = new ClusterBuilder().Nodes(10_000, configure: (n, i) => n.Used(i % 4, "1GiB")).Build();
        var scheduler = new Scheduler(new SchedulerOptions { SamplingThreshold = int.MaxValue, ExplainCandidates = 5 });

        var outcome = scheduler.Place(snapshot, Ask.Container(), seed: 1);

        Assert.Equal(10_000, outcome.Explanation.Feasible);
        Assert.Null(outcome.Explanation.SampleSize);
        Assert.Equal(5, outcome.Explanation.Candidates.Count);
        var scores = outcome.Explanation.Candidates.Select(c => c.Score).ToList();
        Assert.Equal(scores.OrderDescending(), scores);
        // The fullest nodes (3 of 4 cores used) win.
        Assert.All(outcome.Explanation.Candidates, c => Assert.Equal(3, int.Parse(c.Node[1..], System.Globalization.CultureInfo.InvariantCulture) % 4));
    }

    [Fact]
    public void Explanation_RoundTripsThroughTheSourceGeneratedJson()
    {
        var snapshot = new ClusterBuilder().Node("a").Node("b", n => n.Used(1, "1GiB")).Node("c", n => n.Offline()).Build();
        var outcome = new Scheduler().Place(snapshot, Ask.Container() with { AntiAffinity = new AntiAffinity("web", Hard: false) }, seed: 1);

        var json = JsonSerializer.Serialize(outcome.Explanation, SchedulerJson.Default.PlacementExplanation);
        var back = JsonSerializer.Deserialize(json, SchedulerJson.Default.PlacementExplanation)!;

        Assert.Contains("\"node\":\"b\"", json, StringComparison.Ordinal);
        Assert.Contains("\"plugin\":\"binpack\"", json, StringComparison.Ordinal);
        Assert.DoesNotContain("\"error\"", json, StringComparison.Ordinal);
        Assert.Equal(outcome.Explanation.Node, back.Node);
        Assert.Equal(outcome.Explanation.Candidates.Select(c => (c.Node, c.Score)), back.Candidates.Select(c => (c.Node, c.Score)));
        Assert.Equal(outcome.Explanation.Candidates[0].Scores, back.Candidates[0].Scores);
        Assert.Equal(outcome.Explanation.Rejected[0].Examples, back.Rejected[0].Examples);
    }
}
