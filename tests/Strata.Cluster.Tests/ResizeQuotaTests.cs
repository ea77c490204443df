using Strata.Contracts;
using Strata.Testing;

namespace Strata.Cluster.Tests;

/// <summary>A live resize in a cluster is counted against the project's quota in etcd, across every node.</summary>
[Collection(EtcdCollection.Name)]
public sealed class ResizeQuotaTests(EtcdCluster etcd)
{
    private const long MiB = 1L << 20;

    [SkippableFact]
    public async Task TwoNodesGrowingAtOnce_OneIsRefusedByTheQuota_AShrinkFreesRoom_ASecondProjectTouchesNothing()
    {
        await using var h = new ClusterHarness(etcd);
        await h.WipeAsync();
        var n1 = await h.StartNodeAsync("rq1");
        var n2 = await h.StartNodeAsync("rq2");
        await h.LeaderAsync();
        await h.Client.PutAsync(ClusterKeys.Project("team"), ClusterCodec.Encode(
            new ClusterProject { Name = "team", Quota = new ProjectQuota { MemoryBytes = 1024 * MiB, Cpus = 4 } }, ClusterJson.Default.ClusterProject));
        await h.Client.PutAsync(ClusterKeys.Project("other"), ClusterCodec.Encode(new ClusterProject { Name = "other" }, ClusterJson.Default.ClusterProject));
        await h.Instances.CreateAsync(ClusterHarness.Instance("a", "team", memory: 256 * MiB));
        await h.Instances.CreateAsync(ClusterHarness.Instance("b", "team", memory: 256 * MiB));
        Assert.Equal(512 * MiB, (await h.Instances.UsageAsync("team")).Usage.MemoryBytes);

        // Each node's API grows one instance by 384 MiB at once: either fits alone (896 MiB), not both (1,280 MiB > 1 GiB).
        var on1 = new ClusterInstances(n1.Etcd, h.Options);
        var on2 = new ClusterInstances(n2.Etcd, h.Options);
        using var go = new SemaphoreSlim(0, 2);
        async Task<StrataException?> GrowAsync(ClusterInstances api, string name)
        {
            await go.WaitAsync();
            try
            {
                await api.ResizeAsync("team", name, 640 * MiB, 0.5);
                return null;
            }
            catch (StrataException e)
            {
                return e;
            }
        }
        var grows = new[] { Task.Run(() => GrowAsync(on1, "a")), Task.Run(() => GrowAsync(on2, "b")) };
        go.Release(2);
        var results = await Task.WhenAll(grows);
        var refused = Assert.Single(results, e => e is not null)!;
        Assert.Single(results, e => e is null);
        Assert.Equal(ErrorKind.Forbidden, refused.Kind);
        Assert.Contains("would exceed its memory quota", refused.Message, StringComparison.Ordinal);
        Assert.Contains("strata project set-quota team", refused.Message, StringComparison.Ordinal);
        Assert.Equal("quota.memoryBytes", refused.Field);
        // The refusal names the project's use across the cluster (both nodes' instances), not one node's.
        Assert.Contains("Counted across the cluster, on every node: the project uses 896M of memory", refused.Message, StringComparison.Ordinal);
        Assert.Equal(896 * MiB, (await h.Instances.UsageAsync("team")).Usage.MemoryBytes);
        var grown = results[0] is null ? "a" : "b";
        var held = grown == "a" ? "b" : "a";
        Assert.Equal(640 * MiB, ClusterInstances.SpecOf((await h.Instances.GetAsync("team", grown))!.Desired).Resources!.MemoryBytes);
        Assert.Equal(256 * MiB, ClusterInstances.SpecOf((await h.Instances.GetAsync("team", held))!.Desired).Resources!.MemoryBytes);

        // A shrink is never refused and frees its share: the refused growth then fits.
        await on1.ResizeAsync("team", grown, 128 * MiB, 0.5);
        Assert.Equal(384 * MiB, (await h.Instances.UsageAsync("team")).Usage.MemoryBytes);
        await on2.ResizeAsync("team", held, 640 * MiB, 0.5);
        Assert.Equal(768 * MiB, (await h.Instances.UsageAsync("team")).Usage.MemoryBytes);
        // CPUs are counted the same way: 0.5 + 4 > 4; a refusal changes nothing.
        var cpus = await Assert.ThrowsAsync<StrataException>(() => on1.ResizeAsync("team", grown, null, 4));
        Assert.Contains("would exceed its cpus quota", cpus.Message, StringComparison.Ordinal);
        Assert.Equal(1, (await h.Instances.UsageAsync("team")).Usage.Cpus, 6);
        // Giving back a resize the node could not apply: the count returns to what ResizeAsync says it was.
        var counted = await on2.ResizeAsync("team", grown, 256 * MiB, 2);
        Assert.Equal(128 * MiB, counted!.MemoryBytes);
        Assert.Equal((896 * MiB, 2.5), await UseAsync(h, "team"));
        await on2.RestoreLimitsAsync("team", grown, counted);
        Assert.Equal((768 * MiB, 1.0), await UseAsync(h, "team"));
        // A lowered quota never blocks giving back: below what is used, a shrink still goes through.
        await h.Client.PutAsync(ClusterKeys.Project("team"), ClusterCodec.Encode(
            new ClusterProject { Name = "team", Quota = new ProjectQuota { MemoryBytes = 256 * MiB, Cpus = 4 } }, ClusterJson.Default.ClusterProject));
        await on1.ResizeAsync("team", held, 512 * MiB, null);
        Assert.Equal((640 * MiB, 1.0), await UseAsync(h, "team"));
        await h.Client.PutAsync(ClusterKeys.Project("team"), ClusterCodec.Encode(
            new ClusterProject { Name = "team", Quota = new ProjectQuota { MemoryBytes = 1024 * MiB, Cpus = 4 } }, ClusterJson.Default.ClusterProject));

        // A second project's caller finds none of team's instances and changes nothing.
        var foreign = await Assert.ThrowsAsync<StrataException>(() => on1.ResizeAsync("other", grown, 64 * MiB, 0.5));
        Assert.Equal(ErrorKind.NotFound, foreign.Kind);
        Assert.Equal(640 * MiB, (await h.Instances.UsageAsync("team")).Usage.MemoryBytes);
        Assert.Equal(0, (await h.Instances.UsageAsync("other")).Usage.MemoryBytes);
        Assert.Equal(128 * MiB, ClusterInstances.SpecOf((await h.Instances.GetAsync("team", grown))!.Desired).Resources!.MemoryBytes);

        // Removing a resized instance gives back its new size, not its size at creation.
        await h.Instances.DeleteAsync("team", held);
        Assert.Equal(128 * MiB, (await h.Instances.UsageAsync("team")).Usage.MemoryBytes);
        Assert.True(await TestEnvironment.EventuallyAsync(() => h.Nodes.SelectMany(n => n.Workloads.Copies).Count() == 1, TimeSpan.FromSeconds(20)));
    }

    [SkippableFact]
    public async Task ManyGrowsAtOnceThroughTwoNodes_ExactlyWhatFitsIsAdmitted_TheCountEqualsTheSpecs()
    {
        await using var h = new ClusterHarness(etcd);
        await h.WipeAsync();
        var n1 = await h.StartNodeAsync("rc1");
        var n2 = await h.StartNodeAsync("rc2");
        await h.LeaderAsync();
        await h.Client.PutAsync(ClusterKeys.Project("team"), ClusterCodec.Encode(
            new ClusterProject { Name = "team", Quota = new ProjectQuota { MemoryBytes = 1024 * MiB } }, ClusterJson.Default.ClusterProject));
        for (var i = 0; i < 10; i++)
        {
            await h.Instances.CreateAsync(ClusterHarness.Instance($"g{i}", "team", memory: 64 * MiB));
        }
        // 640 MiB in use; 10 growths of 64 MiB each at once, half through each node: 6 fit (1,024 MiB), 4 do not.
        var apis = new[] { new ClusterInstances(n1.Etcd, h.Options), new ClusterInstances(n2.Etcd, h.Options) };
        using var go = new SemaphoreSlim(0, 10);
        var grows = Enumerable.Range(0, 10).Select(i => Task.Run(async () =>
        {
            await go.WaitAsync();
            try
            {
                await apis[i % 2].ResizeAsync("team", $"g{i}", 128 * MiB, null);
                return true;
            }
            catch (StrataException e) when (e.Kind == ErrorKind.Forbidden)
            {
                return false;
            }
        })).ToList();
        go.Release(10);
        var admitted = await Task.WhenAll(grows);
        Assert.Equal(6, admitted.Count(ok => ok));
        var specs = (await h.Instances.ListAsync("team")).Sum(i => ClusterInstances.SpecOf(i.Desired).Resources!.MemoryBytes!.Value);
        Assert.Equal(1024 * MiB, specs);
        Assert.Equal(1024 * MiB, (await h.Instances.UsageAsync("team")).Usage.MemoryBytes);
        Assert.Equal(10, (await h.Instances.UsageAsync("team")).Usage.Instances);
    }

    private static async Task<(long Memory, double Cpus)> UseAsync(ClusterHarness h, string project)
    {
        var u = (await h.Instances.UsageAsync(project)).Usage;
        return (u.MemoryBytes, Math.Round(u.Cpus, 6));
    }
}
