using Microsoft.Extensions.Logging.Abstractions;
using Strata.Cluster.Etcd;
using Strata.Contracts;
using Strata.Scheduler;
using Strata.Testing;

namespace Strata.Cluster.Tests;

[Collection(EtcdCollection.Name)]
public sealed class PlacementTests(EtcdCluster etcd)
{
    [SkippableFact]
    public async Task BinPack_FillsOneNodeBeforeTheNext_AndEachNodeRunsWhatItWasGiven()
    {
        await using var h = new ClusterHarness(etcd);
        await h.WipeAsync();
        foreach (var n in new[] { "n1", "n2", "n3" })
        {
            await h.StartNodeAsync(n, cpuMillis: 4000);
        }
        await h.LeaderAsync();
        var placed = new List<DesiredInstance>();
        for (var i = 0; i < 6; i++)
        {
            placed.Add(await h.Instances.CreateAsync(ClusterHarness.Instance($"web-{i}", cpuMillis: 1000)));
        }
        var byNode = placed.GroupBy(p => p.Node!).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(2, byNode.Count);
        Assert.Contains(4, byNode.Values);
        Assert.Contains(2, byNode.Values);
        // Why this node: the bin-pack score is stored with the placement.
        Assert.All(placed, p => Assert.Contains(p.Why!.Candidates[0].Scores, s => s.Plugin == "binpack"));
        Assert.All(placed, p => Assert.True(p.Generation > 0));
        // Free resources in etcd follow the placements.
        var nodes = await ClusterView.NodesAsync(h.Client);
        foreach (var n in nodes)
        {
            Assert.Equal(4000 - (byNode.GetValueOrDefault(n.Name) * 1000), n.Record!.Free.CpuMillis);
        }
        // Each node's agent ran exactly its own instances, once each.
        Assert.True(await TestEnvironment.EventuallyAsync(() => h.Nodes.Sum(n => n.Workloads.Copies.Count) == 6, TimeSpan.FromSeconds(10)));
        foreach (var node in h.Nodes)
        {
            Assert.Equal(byNode.GetValueOrDefault(node.Name), node.Workloads.Runs.Count);
            Assert.All(node.Workloads.Copies, c => Assert.Equal(node.Name, placed.Single(p => p.Name == c.Name).Node));
        }
        // The nodes report them running.
        Assert.True(await TestEnvironment.EventuallyAsync(() =>
            h.Instances.ListAsync("default").GetAwaiter().GetResult().All(i => i.Status == "running"), TimeSpan.FromSeconds(10)));
    }

    [SkippableFact]
    public async Task Spread_PutsEachInstanceOnTheEmptiestNode()
    {
        await using var h = new ClusterHarness(etcd, scheduler: new SchedulerOptions { Algorithm = SchedulingAlgorithm.Spread });
        await h.WipeAsync();
        foreach (var n in new[] { "s1", "s2", "s3" })
        {
            await h.StartNodeAsync(n, cpuMillis: 4000);
        }
        await h.LeaderAsync();
        var placed = new List<DesiredInstance>();
        for (var i = 0; i < 6; i++)
        {
            placed.Add(await h.Instances.CreateAsync(ClusterHarness.Instance($"api-{i}", cpuMillis: 500)));
        }
        Assert.All(placed.GroupBy(p => p.Node), g => Assert.Equal(2, g.Count()));
        Assert.Contains(placed[0].Why!.Candidates[0].Scores, s => s.Plugin == "spread");
    }

    [SkippableFact]
    public async Task NoNodeFits_TheCreateFailsWithTheReason_AndLeavesNothing()
    {
        await using var h = new ClusterHarness(etcd);
        await h.WipeAsync();
        await h.StartNodeAsync("f1", cpuMillis: 1000);
        await h.LeaderAsync();
        var e = await Assert.ThrowsAsync<StrataException>(() => h.Instances.CreateAsync(ClusterHarness.Instance("big", cpuMillis: 8000)));
        Assert.Contains("no node can take instance 'big'", e.Message, StringComparison.Ordinal);
        Assert.Contains("cpu", e.Message, StringComparison.Ordinal);
        Assert.Null(await h.Instances.GetAsync("default", "big"));
        Assert.Equal(0, (await h.Instances.UsageAsync("default")).Usage.Instances);
    }

    [SkippableFact]
    public async Task ADeposedLeader_CommitsNothing()
    {
        await using var h = new ClusterHarness(etcd);
        await h.WipeAsync();
        await h.StartNodeAsync("d1", campaign: false);
        // Lead by hand, then lose the lease (as a leader cut off from etcd for a TTL would).
        var lease = await h.Client.GrantLeaseAsync(TimeSpan.FromSeconds(5));
        var key = await h.Client.CampaignAsync(ClusterKeys.Election, lease, "old-leader", CancellationToken.None);
        await h.Instances.AdmitAsync(ClusterHarness.Instance("fenced"));
        await h.Client.RevokeLeaseAsync(lease);
        var placer = new PlacementCommitter(h.Client, h.Options, new Scheduler.Scheduler(), NullLogger.Instance);
        await Assert.ThrowsAsync<NotLeaderException>(() => placer.PlacePendingAsync(key, CancellationToken.None));
        var still = await h.Instances.GetAsync("default", "fenced");
        Assert.Equal("pending", still!.Status);
        Assert.Equal(0, placer.Committed);
    }

    [SkippableFact]
    public async Task TwoPlannersOnTheSameView_NeverOverfillANode_NorPlaceTwice()
    {
        await using var h = new ClusterHarness(etcd);
        await h.WipeAsync();
        await h.StartNodeAsync("o1", cpuMillis: 2000, campaign: false);
        var lease = await h.Client.GrantLeaseAsync(TimeSpan.FromSeconds(30));
        var key = await h.Client.CampaignAsync(ClusterKeys.Election, lease, "leader", CancellationToken.None);
        for (var i = 0; i < 8; i++)
        {
            await h.Instances.AdmitAsync(ClusterHarness.Instance($"job-{i}", cpuMillis: 500));
        }
        // Two committers racing on one leader key: the node record's revision fences them, one view wins.
        var a = new PlacementCommitter(h.Client, h.Options with { PlacementBatch = 3 }, new Scheduler.Scheduler(), NullLogger.Instance);
        using var other = new EtcdConnection(etcd.ConnectionString);
        var b = new PlacementCommitter(other, h.Options with { PlacementBatch = 3 }, new Scheduler.Scheduler(), NullLogger.Instance);
        async Task Drain(PlacementCommitter p)
        {
            for (var round = 0; round < 50; round++)
            {
                var left = await h.Client.GetPrefixAsync(ClusterKeys.Pending, keysOnly: true);
                if (left.Kvs.Count == 0)
                {
                    return;
                }
                await p.PlacePendingAsync(key, CancellationToken.None);
            }
        }
        await Task.WhenAll(Drain(a), Drain(b));
        var all = await h.Instances.ListAsync("default");
        Assert.Equal(8, all.Count);
        Assert.Equal(4, all.Count(i => i.Desired.Node == "o1"));
        Assert.Equal(4, all.Count(i => i.Status == "failed"));
        var assigned = await h.Client.GetPrefixAsync(ClusterKeys.AssignmentsOf("o1"));
        Assert.Equal(4, assigned.Kvs.Count);
        var node = (await ClusterView.NodesAsync(h.Client)).Single();
        Assert.Equal(0, node.Record!.Free.CpuMillis);
        Assert.Equal(8, a.Committed + b.Committed);
        await h.Client.RevokeLeaseAsync(lease);
    }
}
