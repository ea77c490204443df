using Microsoft.Extensions.Logging.Abstractions;
using Strata.Cluster.Rebalancing;
using Strata.Scheduler;
using Strata.Scheduler.Rebalancing;
using Strata.Testing;

namespace Strata.Cluster.Tests;

/// <summary>
/// Predicted load through etcd with in-process nodes (memory workloads): nodes publish their instances'
/// predictions, the leader's placement scores count them, and the rebalancer observes the real node records,
/// assignments and reports, moves through the cluster's move marker and switch, and keeps its state in etcd.
/// </summary>
[Collection(EtcdCollection.Name)]
public sealed class ClusterRebalanceTests(EtcdCluster etcd)
{
    private static Func<CancellationToken, Task<IReadOnlyList<PredictedUse>>> Predict(Dictionary<string, long> cpuMillis) =>
        _ => Task.FromResult<IReadOnlyList<PredictedUse>>([.. cpuMillis.Select(p => new PredictedUse("default", p.Key, new ResourceAmounts(0, 0), new ResourceAmounts(p.Value, 64L << 20)))]);

    [SkippableFact]
    public async Task PublishedPredictions_ArePlacementScores_TheNewInstanceGoesWhereLessIsPredictedInUse()
    {
        await using var h = new ClusterHarness(etcd, scheduler: new SchedulerOptions { Algorithm = SchedulingAlgorithm.Spread });
        await h.WipeAsync();
        var n1 = await h.StartNodeAsync("p1", cpuMillis: 4000);
        var n2 = await h.StartNodeAsync("p2", cpuMillis: 4000);
        await h.LeaderAsync();
        // p1 reserves 3 cores for three instances, p2 one core for one: by limits p2 is the emptier.
        foreach (var i in new[] { "big-0", "big-1", "big-2" })
        {
            await h.Instances.CreateAsync(ClusterHarness.Instance(i, cpuMillis: 1000) with { PinnedNode = "p1" });
        }
        await h.Instances.CreateAsync(ClusterHarness.Instance("busy", cpuMillis: 1000) with { PinnedNode = "p2" });
        var before = await h.Instances.CreateAsync(ClusterHarness.Instance("probe-0", cpuMillis: 500));
        Assert.Equal("p2", before.Node); // no predictions yet: spread on limits
        await h.Instances.DeleteAsync("default", "probe-0");

        // p1's histories say its three use 0.1 core each; p2 publishes none (its instance counts at its limits).
        await using var p1 = new NodeLoadPublisher(n1.Etcd, n1.Membership, "p1", Predict(new() { ["big-0"] = 100, ["big-1"] = 100, ["big-2"] = 100, ["not-here"] = 100 }), TimeSpan.FromSeconds(1), NullLogger.Instance);
        await using var p2 = new NodeLoadPublisher(n2.Etcd, n2.Membership, "p2", Predict([]), TimeSpan.FromSeconds(1), NullLogger.Instance);
        await p1.PublishOnceAsync(CancellationToken.None);
        await p2.PublishOnceAsync(CancellationToken.None);
        await p1.PublishOnceAsync(CancellationToken.None);
        Assert.Equal(1, p1.Writes); // unchanged: not written again
        var loads = await ClusterView.LoadsAsync(h.Client);
        Assert.Equal(["big-0", "big-1", "big-2"], loads["p1"].Instances.Select(i => i.Name)); // only its own assignments
        Assert.All(loads["p1"].Instances, i => Assert.Equal(1000, i.Requested.CpuMillis)); // what the assignment reserves
        Assert.Empty(loads["p2"].Instances);

        var after = await h.Instances.CreateAsync(ClusterHarness.Instance("probe-1", cpuMillis: 500));

        Assert.Equal("p1", after.Node); // 3.7 cores predicted free against 3
        var p1Score = after.Why!.Candidates.Single(c => c.Node == "p1");
        Assert.Contains("scored on predicted use: 3 of 3 instances here have usage histories", p1Score.Predicted, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task TheLoop_OnRealNodeRecords_MovesOnePerRoundThroughTheSwitch_KeepsItsStateInEtcd_AndHidesOtherProjects()
    {
        await using var h = new ClusterHarness(etcd);
        await h.WipeAsync();
        await h.StartNodeAsync("r1", cpuMillis: 4000, tiers: ["process", "fake"]);
        await h.StartNodeAsync("r2", cpuMillis: 4000, tiers: ["process", "fake"]);
        await h.LeaderAsync();
        // Bin-pack puts all four on one node: 100 % against 0 %.
        var created = new List<DesiredInstance>();
        for (var i = 0; i < 4; i++)
        {
            created.Add(await h.Instances.CreateAsync(ClusterHarness.Instance($"w-{i}", cpuMillis: 1000, memory: 64L << 20, tier: "process")));
        }
        var full = created[0].Node!;
        var empty = full == "r1" ? "r2" : "r1";
        Assert.All(created, c => Assert.Equal(full, c.Node));
        Assert.True(await TestEnvironment.EventuallyAsync(() =>
            h.Instances.ListAsync("default").GetAwaiter().GetResult().All(i => i.Status == "running"), TimeSpan.FromSeconds(30)), "the instances never ran");

        // Another project sees the loads but none of these instances.
        var hidden = await ClusterRebalance.ObserveAsync(h.Client, "other");
        var forOther = new Rebalancer(new RebalanceOptions { Rounds = 1 }).Evaluate(hidden, new RebalanceState(), DateTimeOffset.UtcNow);
        Assert.Equal(RebalanceReason.NoQualifyingMove, forOther.Reason);
        Assert.Equal(1.0, forOther.Loads.Single(l => l.Node == full).Load, 3);
        Assert.DoesNotContain("w-", System.Text.Json.JsonSerializer.Serialize(forOther, SchedulerJson.Default.RebalanceDecision), StringComparison.Ordinal);

        var mover = new SwitchingMover(h);
        var journal = new EtcdRebalanceJournal(h.Client, TimeSpan.FromHours(1));
        var loop = new RebalanceLoop(new Rebalancer(new RebalanceOptions { Rounds = 2 }), RebalanceMode.Auto,
            ct => ClusterRebalance.ObserveAsync(h.Client, null, ct: ct), mover, journal, NullLogger.Instance);
        var results = new List<string>();
        for (var round = 0; round < 5; round++)
        {
            results.Add((await loop.RoundAsync(CancellationToken.None)).Result);
        }

        // waiting, w-0 (75 % / 25 %), waiting, w-1 (50 % / 50 %), balanced.
        Assert.Equal(["none", "moved", "none", "moved", "none"], results);
        Assert.Equal(["w-0", "w-1"], mover.Moved);
        foreach (var name in new[] { "w-0", "w-1" })
        {
            Assert.Equal(empty, (await h.Instances.GetAsync("default", name))!.Desired.Node);
        }
        // The target's agent runs them, the source's stopped its copies.
        Assert.True(await TestEnvironment.EventuallyAsync(() =>
            h.Nodes.Single(n => n.Name == empty).Workloads.Copies.Count == 2 && h.Nodes.Single(n => n.Name == full).Workloads.Copies.Count == 2, TimeSpan.FromSeconds(20)));
        // The state is in etcd: a new leader's loop keeps the cooldowns.
        var state = await journal.LoadAsync(CancellationToken.None);
        Assert.Equal(["default/w-0", "default/w-1"], state.LastMoved.Keys.Order());
        var events = await ClusterEvents.ListAsync(h.Client);
        Assert.Equal(2, events.Count(e => e.Kind == "rebalance-moved"));
        Assert.Contains(events, e => e.Kind == "rebalance-moved" && e.Message.StartsWith($"moved default/w-0 from {full} to {empty}", StringComparison.Ordinal));
        Assert.Contains(events, e => e.Kind == "rebalance-balanced");
    }

    /// <summary>Moves as a move by node name does in etcd (marker under the source's lease, then the switch), without a daemon.</summary>
    private sealed class SwitchingMover(ClusterHarness h) : IInstanceMover
    {
        public List<string> Moved { get; } = [];

        public async Task<string> MoveAsync(RebalanceMove move, Action<string>? progress, CancellationToken ct)
        {
            var marker = new MoveMarker(move.From, move.To);
            await ClusterMoves.BeginAsync(h.Client, move.Project, move.Instance, marker, h.Nodes.Single(n => n.Name == move.From).Membership.Lease, ct);
            Assert.True(await ClusterMoves.SwitchAsync(h.Client, move.Project, move.Instance, marker, ct));
            Moved.Add(move.Instance);
            return "switched";
        }
    }
}
