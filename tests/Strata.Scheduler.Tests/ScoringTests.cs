using Strata.Scheduler.Tests.Harness;

namespace Strata.Scheduler.Tests;

public sealed class ScoringTests
{
    private static ClusterSnapshot HalfFullAndEmpty() => new ClusterBuilder()
        .Node("empty", n => n.Capacity(4, "8GiB"))
        .Node("half", n => n.Capacity(4, "8GiB").Used(2, "4GiB"))
        .Build();

    // BestFit-v3 restated here: free fractions after the placement, 20 − (10^cpu + 10^mem), clamped to 0–18, as 0–100.
    private static double BinPack(double freeCpu, double freeMem) => Math.Clamp(20 - (Math.Pow(10, freeCpu) + Math.Pow(10, freeMem)), 0, 18) / 18 * 100;

    [Fact]
    public void Place_BinPack_PicksTheFullerNodeWithBestFitV3Scores()
    {
        var outcome = new Scheduler().Place(HalfFullAndEmpty(), Ask.Container(1, "1GiB"), seed: 1);

        PlacementAssert.PlacedOn(outcome, "half");
        Assert.Equal("binpack", outcome.Explanation.Algorithm);
        Assert.Equal(2, outcome.Explanation.Feasible);
        Assert.Equal(Math.Round(BinPack(1 / 4.0, 3 / 8.0), 2), PlacementAssert.PluginScore(outcome, "half", "binpack"));
        Assert.Equal(Math.Round(BinPack(3 / 4.0, 7 / 8.0), 2), PlacementAssert.PluginScore(outcome, "empty", "binpack"));
        // Only one plugin applies (no anti-affinity group), so the final score is the bin-pack score.
        Assert.Equal(outcome.Explanation.Candidates[0].Score, PlacementAssert.PluginScore(outcome, "half", "binpack"));
        Assert.Equal(["half", "empty"], outcome.Explanation.Candidates.Select(c => c.Node));
    }

    [Fact]
    public void Place_Spread_PicksTheEmptierNode()
    {
        var scheduler = new Scheduler(new SchedulerOptions { Algorithm = SchedulingAlgorithm.Spread });

        var outcome = scheduler.Place(HalfFullAndEmpty(), Ask.Container(1, "1GiB"), seed: 1);

        PlacementAssert.PlacedOn(outcome, "empty");
        Assert.Equal("spread", outcome.Explanation.Algorithm);
        var expected = Math.Clamp(Math.Pow(10, 0.75) + Math.Pow(10, 0.875) - 2, 0, 18) / 18 * 100;
        Assert.Equal(Math.Round(expected, 2), PlacementAssert.PluginScore(outcome, "empty", "spread"));
    }

    [Fact]
    public void BinPack_ExactlyFullNodeScores100_NearlyEmptyNodeScoresNearly0()
    {
        var snapshot = new ClusterBuilder()
            .Node("exact", n => n.Capacity(2, "2GiB").Used(1, "1GiB"))
            .Node("huge", n => n.Capacity(1000, "1000GiB"))
            .Build();

        var outcome = new Scheduler().Place(snapshot, Ask.Container(1, "1GiB"), seed: 3);

        PlacementAssert.PlacedOn(outcome, "exact");
        Assert.Equal(100, PlacementAssert.PluginScore(outcome, "exact", "binpack"));
        Assert.InRange(PlacementAssert.PluginScore(outcome, "huge", "binpack"), 0, 0.5);
    }

    [Fact]
    public void Place_SoftAntiAffinity_PrefersANodeWithoutTheGroupOverAFullerOne()
    {
        var snapshot = new ClusterBuilder()
            .Node("fuller", n => n.Used(2, "4GiB").Runs("web-0", group: "web"))
            .Node("emptier")
            .Build();
        var request = Ask.Container() with { AntiAffinity = new AntiAffinity("web", Hard: false) };

        var outcome = new Scheduler().Place(snapshot, request, seed: 1);

        PlacementAssert.PlacedOn(outcome, "emptier");
        Assert.Equal(50, PlacementAssert.PluginScore(outcome, "fuller", "anti-affinity"));
        Assert.Equal(100, PlacementAssert.PluginScore(outcome, "emptier", "anti-affinity"));
        var weights = outcome.Explanation.Candidates[0].Scores.ToDictionary(s => s.Plugin, s => s.Weight);
        Assert.Equal(1, weights["binpack"]);
        Assert.Equal(2, weights["anti-affinity"]);
        // Final score = weighted average of the plugin scores.
        var c = outcome.Explanation.Candidates[0];
        Assert.Equal((c.Scores[0].Score * 1 + c.Scores[1].Score * 2) / 3, c.Score, 1);
    }

    [Fact]
    public void Place_SoftAntiAffinity_StillPlacesWhenEveryNodeHasTheGroup()
    {
        var snapshot = new ClusterBuilder()
            .Node("a", n => n.Runs("web-0", group: "web"))
            .Node("b", n => n.Runs("web-1", group: "web").Runs("web-2", group: "web"))
            .Build();
        var request = Ask.Container() with { AntiAffinity = new AntiAffinity("web", Hard: false) };

        PlacementAssert.PlacedOn(new Scheduler().Place(snapshot, request, seed: 1), "a");
    }

    [Fact]
    public void Weights_ChangeThePick_AndZeroTurnsAPluginOff()
    {
        var snapshot = new ClusterBuilder()
            .Node("fuller", n => n.Used(3, "6GiB").Runs("web-0", group: "web"))
            .Node("emptier")
            .Build();
        var request = Ask.Container() with { AntiAffinity = new AntiAffinity("web", Hard: false) };

        var off = new Scheduler(new SchedulerOptions { Weights = new Dictionary<string, int> { ["anti-affinity"] = 0 } }).Place(snapshot, request, 1);
        var strong = new Scheduler(new SchedulerOptions { Weights = new Dictionary<string, int> { ["anti-affinity"] = 100 } }).Place(snapshot, request, 1);

        PlacementAssert.PlacedOn(off, "fuller");
        Assert.DoesNotContain(off.Explanation.Candidates[0].Scores, s => s.Plugin == "anti-affinity");
        PlacementAssert.PlacedOn(strong, "emptier");
    }

    [Theory]
    [InlineData("binpak", 1, "no score plugin")]
    [InlineData("binpack", 101, "from 0 (off) to 100")]
    [InlineData("spread", -1, "from 0 (off) to 100")]
    public void Options_BadWeight_IsRejectedNamingIt(string plugin, int weight, string message)
    {
        var error = Assert.Throws<ArgumentException>(() => new Scheduler(new SchedulerOptions { Weights = new Dictionary<string, int> { [plugin] = weight } }));

        Assert.Contains(plugin, error.Message, StringComparison.Ordinal);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Plugins_ACustomScorer_JoinsTheWeightedAverage()
    {
        var snapshot = new ClusterBuilder()
            .Node("ssd", n => n.Label("disk", "ssd"))
            .Node("hdd", n => n.Used(2, "4GiB").Label("disk", "hdd"))
            .Build();
        var scorers = Scheduler.DefaultScorers(SchedulingAlgorithm.BinPack).Append(new LabelPreference("disk", "ssd"));
        var scheduler = new Scheduler(new SchedulerOptions { Weights = new Dictionary<string, int> { ["prefer-label"] = 5 } }, scorers: scorers);

        var outcome = scheduler.Place(snapshot, Ask.Container(), seed: 1);

        PlacementAssert.PlacedOn(outcome, "ssd");
        Assert.Equal(100, PlacementAssert.PluginScore(outcome, "ssd", "prefer-label"));
        Assert.Equal(0, PlacementAssert.PluginScore(outcome, "hdd", "prefer-label"));
    }

    /// <summary>A plugin written the way docs/scheduler.md describes: prefer nodes with a label.</summary>
    private sealed class LabelPreference(string label, string value) : IScorePlugin
    {
        public string Name => "prefer-label";

        public int DefaultWeight => 1;

        public bool AppliesTo(PlacementRequest request) => true;

        public double Score(in NodeCandidate node, PlacementRequest request) =>
            node.Node.Labels.TryGetValue(label, out var v) && v == value ? 100 : 0;
    }
}
