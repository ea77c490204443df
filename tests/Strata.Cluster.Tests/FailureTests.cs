using System.Collections.Concurrent;
using System.Diagnostics;
using Strata.Cluster.Etcd;
using Strata.Contracts;
using Strata.Testing;

namespace Strata.Cluster.Tests;

[Collection(EtcdCollection.Name)]
public sealed class FailureTests(EtcdCluster etcd)
{
    private static ClusterOptions Fast => new()
    {
        LeaseTtl = TimeSpan.FromSeconds(3),
        OfflineAfter = TimeSpan.FromSeconds(20),
        ReplacementGrace = TimeSpan.FromSeconds(2),
        ReplacementInterval = TimeSpan.FromSeconds(1),
    };

    [SkippableFact]
    public async Task ANodeThatDies_IsOfflineWithinTwentySeconds_OnlyItsRestartAlwaysStatelessInstancesMove_AndOnReturnItStopsTheReplacedCopies()
    {
        await using var h = new ClusterHarness(etcd, Fast);
        await h.WipeAsync();
        foreach (var n in new[] { "a", "b", "c" })
        {
            await h.StartNodeAsync(n);
        }
        await h.LeaderAsync();
        // Bin-pack puts both on the same node.
        var web = await h.Instances.CreateAsync(ClusterHarness.Instance("web", restart: "always"));
        var vm = await h.Instances.CreateAsync(ClusterHarness.Instance("disk-vm", tier: "vm", restart: "always", stateless: false));
        Assert.Equal(web.Node, vm.Node);
        var victim = h.Nodes.Single(n => n.Name == web.Node);
        Assert.True(await TestEnvironment.EventuallyAsync(() => victim.Workloads.Copies.Count == 2, TimeSpan.FromSeconds(10)));

        var sw = Stopwatch.StartNew();
        await victim.CrashAsync();
        Assert.True(await TestEnvironment.EventuallyAsync(() =>
            ClusterView.NodesAsync(h.Client).GetAwaiter().GetResult().Single(n => n.Name == victim.Name).Settings.OfflineSince is not null,
            TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(100)), "the node was not marked offline within 20 s");
        Assert.True(sw.Elapsed <= TimeSpan.FromSeconds(20));
        Assert.Equal("lost", (await h.Instances.GetAsync("default", "disk-vm"))!.Status);

        // After the grace: web is placed once on another node; the vm (local disk) stays lost.
        Assert.True(await TestEnvironment.EventuallyAsync(() =>
            h.Instances.GetAsync("default", "web").GetAwaiter().GetResult()!.Desired.Node != victim.Name, TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(100)));
        var moved = (await h.Instances.GetAsync("default", "web"))!;
        Assert.Equal(1, moved.Desired.Replacements);
        Assert.True(moved.Desired.Generation > web.Generation);
        var vmNow = (await h.Instances.GetAsync("default", "disk-vm"))!;
        Assert.Equal(victim.Name, vmNow.Desired.Node);
        Assert.Equal("lost", vmNow.Status);
        var others = h.Nodes.Where(n => n != victim).ToList();
        Assert.True(await TestEnvironment.EventuallyAsync(() => others.Sum(n => n.Workloads.Runs.Count(r => r.Name == "web")) == 1, TimeSpan.FromSeconds(10)));
        Assert.Contains(await ClusterEvents.ListAsync(h.Client), e => e.Kind == "node-offline" && e.Message.Contains(victim.Name, StringComparison.Ordinal));

        // The node comes back with its copies still there (as after SIGSTOP / SIGCONT): it stops the stale web, keeps the vm.
        Assert.Equal(2, victim.Workloads.Copies.Count);
        var back = await h.StartNodeAsync(victim.Name, workloads: victim.Workloads, campaign: false);
        Assert.True(await TestEnvironment.EventuallyAsync(() => back.Workloads.Copies.Count == 1, TimeSpan.FromSeconds(10)));
        Assert.Equal("disk-vm", back.Workloads.Copies.Single().Name);
        Assert.Equal(1, back.Agent.StaleStopped);
        Assert.True(await TestEnvironment.EventuallyAsync(() =>
            h.Instances.GetAsync("default", "disk-vm").GetAwaiter().GetResult()!.Status == "running", TimeSpan.FromSeconds(10)));
    }

    [SkippableFact]
    public async Task HalfTheNodesOffline_FreezesReplacement()
    {
        await using var h = new ClusterHarness(etcd, Fast);
        await h.WipeAsync();
        foreach (var n in new[] { "x1", "x2", "x3", "x4" })
        {
            await h.StartNodeAsync(n);
        }
        await h.LeaderAsync();
        var web = await h.Instances.CreateAsync(ClusterHarness.Instance("web", restart: "always"));
        var holder = h.Nodes.Single(n => n.Name == web.Node);
        var second = h.Nodes.First(n => n != holder);
        await holder.CrashAsync();
        await second.CrashAsync();
        Assert.True(await TestEnvironment.EventuallyAsync(() =>
            ClusterEvents.ListAsync(h.Client).GetAwaiter().GetResult().Any(e => e.Kind == "replacements-frozen"), TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(200)));
        // Well past the grace, nothing moved.
        await Task.Delay(Fast.ReplacementGrace * 3);
        Assert.Equal(holder.Name, (await h.Instances.GetAsync("default", "web"))!.Desired.Node);
        Assert.Contains("partition", (await ClusterEvents.ListAsync(h.Client)).First(e => e.Kind == "replacements-frozen").Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task TheLeaderDiesDuringABurst_AnotherLeadsWithinAboutATtl_NoInstancePlacedTwiceOrLost()
    {
        await using var h = new ClusterHarness(etcd, Fast with { ReplacementGrace = TimeSpan.FromMinutes(10) });
        await h.WipeAsync();
        foreach (var n in new[] { "l1", "l2", "l3" })
        {
            await h.StartNodeAsync(n, cpuMillis: 64_000, memory: 256L << 30);
        }
        var leader = await h.LeaderAsync();
        var results = new ConcurrentBag<DesiredInstance>();
        var errors = new ConcurrentBag<Exception>();
        var burst = Parallel.ForEachAsync(Enumerable.Range(0, 120), new ParallelOptions { MaxDegreeOfParallelism = 12 }, async (i, ct) =>
        {
            try
            {
                results.Add(await h.Instances.CreateAsync(ClusterHarness.Instance($"b-{i}", cpuMillis: 100), ct));
            }
            catch (Exception e) when (e is StrataException or EtcdUnavailableException)
            {
                errors.Add(e);
            }
        });
        Assert.True(await TestEnvironment.EventuallyAsync(() => results.Count >= 20, TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(5)));
        var crashed = Stopwatch.StartNew();
        await leader.CrashAsync();
        var next = await h.LeaderAsync(TimeSpan.FromSeconds(20));
        var handover = crashed.Elapsed;
        Assert.NotEqual(leader.Name, next.Name);
        Assert.True(handover <= h.Options.LeaseTtl + TimeSpan.FromSeconds(3), $"the new leader took {handover.TotalSeconds:0.0} s (lease TTL {h.Options.LeaseTtl.TotalSeconds} s)");
        await burst;
        Assert.Empty(errors);
        Assert.Equal(120, results.Count);
        var all = await h.Instances.ListAsync("default");
        Assert.Equal(120, all.Count);
        Assert.All(all, i => Assert.NotNull(i.Desired.Node));
        var assigned = new List<string>();
        foreach (var n in h.Nodes)
        {
            assigned.AddRange((await h.Client.GetPrefixAsync(ClusterKeys.AssignmentsOf(n.Name))).Kvs.Select(kv => ClusterKeys.ProjectAndName(ClusterCodec.Key(kv)).Name));
        }
        Assert.Equal(120, assigned.Count);
        Assert.Equal(120, assigned.Distinct().Count());
        // No copy ran twice anywhere.
        var runs = h.Nodes.SelectMany(n => n.Workloads.Runs).GroupBy(r => r.Name).ToList();
        Assert.All(runs, g => Assert.Single(g));
    }
}
