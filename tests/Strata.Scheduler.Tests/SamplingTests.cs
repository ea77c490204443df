using Strata.Scheduler.Tests.Harness;

namespace Strata.Scheduler.Tests;

public sealed class SamplingTests
{
    [Theory]
    [InlineData(101, 7)]
    [InlineData(1_000, 10)]
    [InlineData(1_024, 10)]
    [InlineData(1_025, 11)]
    [InlineData(10_000, 14)]
    public void Place_AboveTheThreshold_ScoresOnlyCeilLog2NFeasibleNodes(int nodes, int expected)
    {
        var snapshot = new ClusterBuilder().Nodes(nodes).Build();

        var outcome = new Scheduler(new SchedulerOptions { SamplingThreshold = 100, ExplainCandidates = 100 }).Place(snapshot, Ask.Container(), seed: 5);

        Assert.True(outcome.Placed);
        Assert.Equal(expected, outcome.Explanation.SampleSize);
        Assert.Equal(expected, outcome.Explanation.Visited);
        Assert.Equal(expected, outcome.Explanation.Feasible);
        Assert.Equal(expected, outcome.Explanation.Candidates.Count);
    }

    [Fact]
    public void Place_AtOrBelowTheThreshold_ScoresEveryFeasibleNode()
    {
        var snapshot = new ClusterBuilder().Nodes(100).Build();

        var outcome = new Scheduler(new SchedulerOptions { SamplingThreshold = 100 }).Place(snapshot, Ask.Container(), seed: 5);

        Assert.Null(outcome.Explanation.SampleSize);
        Assert.Equal(100, outcome.Explanation.Visited);
        Assert.Equal(100, outcome.Explanation.Feasible);
    }

    [Fact]
    public void Place_SmallClusterAboveAZeroThreshold_ScoresAtLeastTwo()
    {
        var snapshot = new ClusterBuilder().Nodes(3).Build();

        var outcome = new Scheduler(new SchedulerOptions { SamplingThreshold = 0 }).Place(snapshot, Ask.Container(), seed: 5);

        Assert.Equal(2, outcome.Explanation.SampleSize);
        Assert.Equal(2, outcome.Explanation.Feasible);
    }

    [Fact]
    public void Place_Sampling_KeepsFilteringUntilEnoughFeasibleNodesAreFound_ThenStops()
    {
        // Three of every four nodes are draining: 10 feasible nodes take about 40 visits, never all 1,000.
        var snapshot = new ClusterBuilder().Nodes(1_000, configure: (n, i) =>
        {
            if (i % 4 != 0)
            {
                n.Draining();
            }
        }).Build();

        var outcome = new Scheduler().Place(snapshot, Ask.Container(), seed: 11);

        Assert.Equal(10, outcome.Explanation.Feasible);
        Assert.Equal(outcome.Explanation.Visited, 10 + PlacementAssert.Rejected(outcome, "node-state", "draining", count: outcome.Explanation.Visited - 10).Count);
        Assert.InRange(outcome.Explanation.Visited, 11, 200);
    }

    [Fact]
    public void Plan_Sampling_SuccessivePlacementsLookAtDifferentNodes()
    {
        var snapshot = new ClusterBuilder().Nodes(1_000).Build();
        var plan = new Scheduler(new SchedulerOptions { ExplainCandidates = 100 }).CreatePlan(snapshot, seed: 2);

        var seen = new List<HashSet<string>>();
        for (var i = 0; i < 50; i++)
        {
            seen.Add([.. plan.Place(Ask.Container(0.1, "64MiB")).Explanation.Candidates.Select(c => c.Node)]);
        }

        // A rotating walk: the 50 placements looked at 500 distinct nodes, 10 each, none twice.
        Assert.All(seen, s => Assert.Equal(10, s.Count));
        Assert.Equal(500, seen.SelectMany(s => s).Distinct().Count());
    }

    [Fact]
    public void Plan_WalkingEveryNode_VisitsEachExactlyOnce()
    {
        // A stride coprime to N: exhaustive visits cover all nodes, whatever the seed and cluster size.
        foreach (var (nodes, seed) in new[] { (1, 1), (2, 3), (12, 4), (97, 5), (360, 6), (1_000, 7) })
        {
            var snapshot = new ClusterBuilder().Nodes(nodes).Build();
            var scheduler = new Scheduler(new SchedulerOptions { SamplingThreshold = int.MaxValue, ExplainCandidates = nodes });

            var outcome = scheduler.Place(snapshot, Ask.Container(0.1, "64MiB"), seed);

            Assert.Equal(nodes, outcome.Explanation.Candidates.Select(c => c.Node).Distinct().Count());
        }
    }
}
