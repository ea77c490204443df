using Strata.Scheduler.Rebalancing;

namespace Strata.Scheduler.Tests;

/// <summary>The rebalancer's rounds: threshold, consecutive rounds, one move, cooldown, minimum improvement, forecasts.</summary>
public sealed class RebalancerTests
{
    private const long Gib = 1L << 30;
    private static readonly DateTimeOffset T0 = new(2026, 12, 5, 6, 0, 0, TimeSpan.Zero);
    private static readonly Resources Node8 = new(8000, 16 * Gib);

    private static RebalanceInstance I(string name, double cores, double gib, double? forecastCores = null, double? limitCores = null) => new(
        name, "default",
        Requested: new Resources((long)((limitCores ?? cores) * 1000), (long)(gib * Gib)),
        Predicted: new Resources((long)(cores * 1000), (long)(gib * Gib)),
        Forecast: forecastCores is { } f ? new Resources((long)(f * 1000), (long)(gib * Gib)) : null);

    /// <summary>"hot" predicted at 75 % CPU (three instances of 2 cores), "cold" at 12.5 % (one of 1 core).</summary>
    private static List<RebalanceNode> HotAndCold() =>
    [
        new("hot", Node8, [I("a", 2, 1), I("b", 2, 1), I("c", 2, 1)]),
        new("cold", Node8, [I("d", 1, 1)]),
    ];

    [Fact]
    public void Imbalance_WaitsForTheRounds_ThenProposesTheOneBestMove()
    {
        var rebalancer = new Rebalancer(new RebalanceOptions { Rounds = 3 });
        var state = new RebalanceState();

        var first = rebalancer.Evaluate(HotAndCold(), state, T0);
        var second = rebalancer.Evaluate(HotAndCold(), first.State, T0.AddMinutes(1));
        var third = rebalancer.Evaluate(HotAndCold(), second.State, T0.AddMinutes(2));

        Assert.Equal(RebalanceReason.Waiting, first.Reason);
        Assert.Contains("imbalanced for 1 of 3 rounds", first.Summary, StringComparison.Ordinal);
        Assert.Equal(RebalanceReason.Waiting, second.Reason);
        Assert.Equal(RebalanceReason.Move, third.Reason);
        var move = third.Move!;
        Assert.Equal(("a", "hot", "cold"), (move.Instance, move.From, move.To)); // every candidate is alike: the first by name
        Assert.Equal(0.625, move.SpreadBefore, 3);
        Assert.Equal(0.125, move.SpreadAfter, 3); // hot 50 %, cold 37.5 %
        Assert.Contains("hot is predicted at 75 % and cold at 12.5 %", move.Why, StringComparison.Ordinal);
        Assert.Equal(0, third.State.RoundsAbove);
        Assert.Equal(T0.AddMinutes(2), third.State.LastMoved["default/a"]);
    }

    [Fact]
    public void Balanced_ProposesNothing_AndResetsTheCount()
    {
        var nodes = new List<RebalanceNode> { new("n1", Node8, [I("a", 2, 1)]), new("n2", Node8, [I("b", 1, 1)]) };

        var decision = new Rebalancer().Evaluate(nodes, new RebalanceState { RoundsAbove = 2 }, T0);

        Assert.Equal(RebalanceReason.Balanced, decision.Reason);
        Assert.Null(decision.Move);
        Assert.Equal(0, decision.State.RoundsAbove);
        Assert.Contains("within the 20 % threshold", decision.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public void Cooldown_AnInstanceMovedRecentlyStays_AnotherIsChosen()
    {
        var rebalancer = new Rebalancer(new RebalanceOptions { Rounds = 1, Cooldown = TimeSpan.FromHours(1) });
        var state = new RebalanceState { LastMoved = new Dictionary<string, DateTimeOffset> { ["default/a"] = T0.AddMinutes(-10) } };

        var decision = rebalancer.Evaluate(HotAndCold(), state, T0);

        Assert.Equal("b", decision.Move!.Instance);
        Assert.Contains("a: moved 10 min ago, cooldown 60 min", decision.Rejected);
        // An hour later a is free to move again.
        Assert.Equal("a", rebalancer.Evaluate(HotAndCold(), state, T0.AddMinutes(51)).Move!.Instance);
    }

    [Fact]
    public void MinimumImprovement_AndFlips_AMoveThatOnlyTurnsTheImbalanceAroundIsRefused()
    {
        // hot 87.5 % (6 + 1 cores of 8), cold 0 %. Moving big makes cold the hot one (75 % against 12.5 %); moving
        // small leaves 75 % against 12.5 % the same way round. Either way the spread goes 87.5 % → 62.5 %.
        var nodes = new List<RebalanceNode> { new("hot", Node8, [I("big", 6, 1), I("small", 1, 1)]), new("cold", Node8, []) };

        var strict = new Rebalancer(new RebalanceOptions { Rounds = 1, MinImprovement = 0.30 }).Evaluate(nodes, new RebalanceState(), T0);
        var normal = new Rebalancer(new RebalanceOptions { Rounds = 1 }).Evaluate(nodes, new RebalanceState(), T0);

        Assert.Equal(RebalanceReason.NoQualifyingMove, strict.Reason);
        Assert.Contains("small → cold: the spread would go from 87.5 % to 62.5 %, less than the 30 % minimum improvement", strict.Rejected);
        Assert.Equal("small", normal.Move!.Instance);
        Assert.Contains("big → cold: the predicted use puts cold at 75 % and hot at 12.5 % after it, 62.5 % the other way: the move would reverse itself", normal.Rejected);
    }

    [Fact]
    public void Forecast_AMoveTheForecastSaysWouldReverseIsRefused_WithoutTheForecastItIsMade()
    {
        // c is predicted at 2 cores now, but its forecast peaks at 7 within the horizon: on "cold" it would make cold the hot node.
        List<RebalanceNode> Nodes(bool forecast) =>
        [
            new("hot", Node8, [I("c", 2, 1, forecast ? 7 : null, limitCores: 2), I("a", 2, 1), I("b", 2, 1)]),
            new("cold", Node8, []),
        ];
        var rebalancer = new Rebalancer(new RebalanceOptions { Rounds = 1 });

        var without = rebalancer.Evaluate(Nodes(forecast: false), new RebalanceState(), T0);
        var with = rebalancer.Evaluate(Nodes(forecast: true), new RebalanceState(), T0);

        Assert.Equal("a", without.Move!.Instance);
        Assert.NotEqual("c", with.Move?.Instance);
        Assert.Contains(with.Rejected, r => r.StartsWith("c → cold: the forecast puts cold at 87.5 % and hot at 50 %", StringComparison.Ordinal) && r.EndsWith("the move would reverse itself", StringComparison.Ordinal));
    }

    [Fact]
    public void Limits_AnInstanceWhoseLimitsDoNotFitTheTargetStays()
    {
        // "padded" reserves 7 of cold's 8 cores by limits but uses 1: a is predicted at 2, limited at 2 — no room by limits.
        var nodes = new List<RebalanceNode>
        {
            new("hot", Node8, [I("a", 2, 1), I("b", 2, 1), I("c", 2, 1)]),
            new("cold", Node8, [I("padded", 1, 1, limitCores: 7)]),
        };

        var decision = new Rebalancer(new RebalanceOptions { Rounds = 1 }).Evaluate(nodes, new RebalanceState(), T0);

        Assert.Equal(RebalanceReason.NoQualifyingMove, decision.Reason);
        Assert.Contains("a → cold: its limits (2 cores, 1 GiB) do not fit what cold's limits leave (1 core, 15 GiB)", decision.Rejected);
        Assert.Equal(1, decision.State.RoundsAbove);
    }

    [Fact]
    public void SingleNode_ReportsWhatItWouldDo()
    {
        var decision = new Rebalancer().Evaluate([new RebalanceNode("host", Node8, [I("a", 2, 1)])], new RebalanceState(), T0);

        Assert.Equal(RebalanceReason.SingleNode, decision.Reason);
        Assert.Equal("nothing to rebalance: one node takes instances (host at 25 % predicted); a rebalance moves instances between two or more nodes", decision.Summary);
        Assert.Equal(0.25, Assert.Single(decision.Loads).Load);
    }

    [Fact]
    public void Unavailable_ADrainingNodeIsNeitherSourceNorTarget()
    {
        var nodes = new List<RebalanceNode> { new("hot", Node8, [I("a", 2, 1), I("b", 2, 1), I("c", 2, 1)]), new("drained", Node8, [], Available: false) };

        Assert.Equal(RebalanceReason.SingleNode, new Rebalancer(new RebalanceOptions { Rounds = 1 }).Evaluate(nodes, new RebalanceState(), T0).Reason);
    }

    [Theory]
    [InlineData(0, 3, 0.05, "threshold")]
    [InlineData(0.2, 0, 0.05, "rounds")]
    [InlineData(0.2, 3, 1.5, "minimum improvement")]
    public void Options_OutOfRange_AreRefusedNamingTheSetting(double threshold, int rounds, double improvement, string named)
    {
        var e = Assert.Throws<ArgumentException>(() => new Rebalancer(new RebalanceOptions { Threshold = threshold, Rounds = rounds, MinImprovement = improvement }));
        Assert.Contains(named, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnotherProjectsInstances_WeighOnTheLoad_ButAreNeverNamedNorMoved()
    {
        var other = (RebalanceInstance i) => i with { Project = "other", Hidden = true };
        List<RebalanceNode> nodes =
        [
            new("hot", Node8, [other(I("secret-a", 2, 1)), other(I("secret-b", 2, 1)), I("mine", 2, 1)]),
            new("cold", Node8, [I("d", 1, 1)]),
        ];

        var decision = new Rebalancer(new RebalanceOptions { Rounds = 1 }).Evaluate(nodes, new RebalanceState(), T0);

        Assert.Equal(RebalanceReason.Move, decision.Reason);
        Assert.Equal("mine", decision.Move!.Instance); // the hidden ones are not candidates, though moving one would do as well
        Assert.Equal(0.75, decision.Loads.Single(l => l.Node == "hot").Load, 3); // yet they weigh on the load
        Assert.Equal(1, decision.Loads.Single(l => l.Node == "hot").Instances);
        var json = System.Text.Json.JsonSerializer.Serialize(decision, SchedulerJson.Default.RebalanceDecision);
        Assert.DoesNotContain("secret", json, StringComparison.Ordinal);

        // Nothing of the caller's on the hot node: no move, and still no name.
        var none = new Rebalancer(new RebalanceOptions { Rounds = 1 }).Evaluate(
            [new("hot", Node8, [other(I("secret-a", 2, 1)), other(I("secret-b", 2, 1))]), new("cold", Node8, [I("d", 1, 1)])], new RebalanceState(), T0);
        Assert.Equal(RebalanceReason.NoQualifyingMove, none.Reason);
        Assert.Contains("hot runs nothing movable", none.Summary, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", System.Text.Json.JsonSerializer.Serialize(none, SchedulerJson.Default.RebalanceDecision), StringComparison.Ordinal);
    }

    [Fact]
    public void ATargetWithoutTheTier_AndAnInstanceThatCannotMove_AreRejectedWithTheirReasons()
    {
        List<RebalanceNode> nodes =
        [
            new("hot", Node8, [I("vm1", 2, 1) with { Tier = "vm", Movable = false, NotMovable = "the vm tier does not move by node name yet" }, I("w", 2, 1) with { Tier = "wasm" }, I("x", 2, 1) with { Tier = "wasm" }]),
            new("cold", Node8, []) { Tiers = new HashSet<string> { "container", "vm" } },
        ];

        var decision = new Rebalancer(new RebalanceOptions { Rounds = 1 }).Evaluate(nodes, new RebalanceState(), T0);

        Assert.Equal(RebalanceReason.NoQualifyingMove, decision.Reason);
        Assert.Contains("vm1: the vm tier does not move by node name yet", decision.Rejected);
        Assert.Contains("w → cold: cold does not run the wasm tier", decision.Rejected);
    }
}
