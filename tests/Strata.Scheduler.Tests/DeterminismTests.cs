using Strata.Scheduler.Tests.Harness;

namespace Strata.Scheduler.Tests;

public sealed class DeterminismTests
{
    private static List<string?> Run(int seed, SchedulingAlgorithm algorithm)
    {
        // Identical nodes: only the seeded visiting order decides between ties.
        var snapshot = new ClusterBuilder().Nodes(2_000).Build();
        var plan = new Scheduler(new SchedulerOptions { Algorithm = algorithm }).CreatePlan(snapshot, seed);
        return [.. Enumerable.Range(0, 500).Select(i => plan.Place(Ask.Container(0.5, "256MiB", $"i{i}")).Node)];
    }

    [Theory]
    [InlineData(SchedulingAlgorithm.BinPack)]
    [InlineData(SchedulingAlgorithm.Spread)]
    public void Plan_SameSeed_SamePlacements_OtherSeed_Others(SchedulingAlgorithm algorithm)
    {
        var first = Run(42, algorithm);

        Assert.Equal(first, Run(42, algorithm));
        Assert.NotEqual(first, Run(43, algorithm));
    }

    [Fact]
    public void Plan_InjectedRandom_IsTheSameAsItsSeed()
    {
        var snapshot = new ClusterBuilder().Nodes(500).Build();
        var scheduler = new Scheduler();

        var bySeed = scheduler.CreatePlan(snapshot, 7).PlaceAll(Enumerable.Repeat(Ask.Container(), 50)).Select(o => o.Node);
        var byRandom = scheduler.CreatePlan(snapshot, new Random(7)).PlaceAll(Enumerable.Repeat(Ask.Container(), 50)).Select(o => o.Node);

        Assert.Equal(bySeed, byRandom);
    }
}
