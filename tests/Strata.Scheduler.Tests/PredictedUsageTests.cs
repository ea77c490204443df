using Strata.Scheduler.Tests.Harness;

namespace Strata.Scheduler.Tests;

/// <summary>Scores on predicted use (right-sizing's recommendations) where instances have usage histories; filters on limits.</summary>
public sealed class PredictedUsageTests
{
    private static readonly Scheduler Spread = new(new SchedulerOptions { Algorithm = SchedulingAlgorithm.Spread });

    /// <summary>
    /// "idle" reserves 3 cores and 6 GiB but its history predicts 0.5 core and 1 GiB; "busy" reserves 2 and 4 with no
    /// history. By limits busy is the emptier node; by prediction idle is.
    /// </summary>
    private static ClusterSnapshot IdleAndBusy(bool histories) => new ClusterBuilder()
        .Node("busy", n => n.Capacity(4, "8GiB").RunsSized("db", 2, "4GiB"))
        .Node("idle", n => n.Capacity(4, "8GiB").RunsSized("batch", 3, "6GiB", histories ? 0.5 : null, histories ? "1GiB" : null))
        .Build();

    [Fact]
    public void Spread_WithAHistory_PicksTheNodePredictedEmptier_AndSaysWhy()
    {
        var byLimits = Spread.Place(IdleAndBusy(histories: false), Ask.Container(0.5, "512MiB"), seed: 1);
        var byPrediction = Spread.Place(IdleAndBusy(histories: true), Ask.Container(0.5, "512MiB"), seed: 1);

        PlacementAssert.PlacedOn(byLimits, "busy");
        Assert.All(byLimits.Explanation.Candidates, c => Assert.Null(c.Predicted));
        PlacementAssert.PlacedOn(byPrediction, "idle");
        var idle = byPrediction.Explanation.Candidates[0];
        Assert.Equal("scored on predicted use: 1 of 1 instance here has a usage history, so 3.5 cores and 7 GiB are predicted free (their limits leave 1 core and 2 GiB)", idle.Predicted);
        var busy = byPrediction.Explanation.Candidates.Single(c => c.Node == "busy");
        Assert.Null(busy.Predicted);
        // The spread score is BestFit-v3 on the predicted free fractions after the placement: (3.5 − 0.5)/4 and (7 − 0.5)/8.
        var expected = Math.Clamp(Math.Pow(10, 3.0 / 4) + Math.Pow(10, 6.5 / 8) - 2, 0, 18) / 18 * 100;
        Assert.Equal(Math.Round(expected, 2), PlacementAssert.PluginScore(byPrediction, "idle", "spread"));
    }

    [Fact]
    public void BinPack_WithHistories_FillsTheNodeWhoseInstancesReallyUseTheMost()
    {
        // Both nodes are half reserved. On "real" the instance uses all it reserves; on "padded" a fifth.
        var cluster = new ClusterBuilder()
            .Node("padded", n => n.Capacity(4, "8GiB").RunsSized("a", 2, "4GiB", 0.4, "800MiB"))
            .Node("real", n => n.Capacity(4, "8GiB").RunsSized("b", 2, "4GiB", 2, "4GiB"))
            .Build();

        var outcome = new Scheduler().Place(cluster, Ask.Container(1, "1GiB"), seed: 1);

        PlacementAssert.PlacedOn(outcome, "real");
        Assert.True(PlacementAssert.PluginScore(outcome, "real", "binpack") > PlacementAssert.PluginScore(outcome, "padded", "binpack"));
        Assert.Contains("3.6 cores and 7.22 GiB are predicted free (their limits leave 2 cores and 4 GiB)", outcome.Explanation.Candidates.Single(c => c.Node == "padded").Predicted ?? "", StringComparison.Ordinal);
    }

    [Fact]
    public void Capacity_StillCountsLimits_APredictedIdleNodeWithoutRoomByLimitsIsRejected()
    {
        var cluster = new ClusterBuilder()
            .Node("reserved", n => n.Capacity(4, "8GiB").RunsSized("hog", 3.8, "7GiB", 0.2, "256MiB"))
            .Node("other", n => n.Capacity(4, "8GiB").RunsSized("x", 2, "2GiB"))
            .Build();

        var outcome = Spread.Place(cluster, Ask.Container(1, "1GiB"), seed: 1);

        PlacementAssert.PlacedOn(outcome, "other");
        PlacementAssert.Rejected(outcome, "capacity", "cpu", fact: "node reserved: cpu 0.2 cores free < 1 core asked");
    }

    [Fact]
    public void Request_WithAPrediction_IsScoredAtItAndCountedAtItInTheBatch()
    {
        // An instance that asks 2 cores and 4 GiB but is predicted at 0.25 and 512 MiB (a move, with its history).
        var cluster = new ClusterBuilder().Node("n1", n => n.Capacity(4, "8GiB")).Node("n2", n => n.Capacity(4, "8GiB")).Build();
        var moving = Ask.Container(2, "4GiB", "mover") with { Predicted = new Resources(250, 512L << 20) };
        var plan = Spread.CreatePlan(cluster, seed: 1);

        var first = plan.Place(moving);
        var second = plan.Place(Ask.Container(0.5, "512MiB", "next"));

        var chosen = first.Explanation.Candidates[0];
        Assert.EndsWith("this instance is predicted to use 0.25 cores and 512 MiB of the 2 cores and 4 GiB it asks", chosen.Predicted, StringComparison.Ordinal);
        var expected = Math.Clamp(Math.Pow(10, 3.75 / 4) + Math.Pow(10, 7.5 / 8) - 2, 0, 18) / 18 * 100;
        Assert.Equal(Math.Round(expected, 2), chosen.Scores[0].Score);
        // Spread sends the next one to the other node: the first node is counted at the prediction for scores…
        Assert.NotEqual(first.Node, second.Node);
        // …and at the full ask for capacity.
        Assert.Equal(new Resources(2000, 4L << 30, 100L << 30, 4096), plan.FreeOn(first.Node!));
    }
}
