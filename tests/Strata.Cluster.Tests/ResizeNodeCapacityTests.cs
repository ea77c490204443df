using Strata.Contracts;
using Strata.Testing;

namespace Strata.Cluster.Tests;

/// <summary>A live resize in a cluster moves the node's free resources with it, and a growth the node has no room for is refused.</summary>
[Collection(EtcdCollection.Name)]
public sealed class ResizeNodeCapacityTests(EtcdCluster etcd)
{
    private const long MiB = 1L << 20;

    [SkippableFact]
    public async Task AResizeMovesTheNodesFreeResources_AGrowthPastTheNodeIsRefused_ASecondProjectChangesNothing()
    {
        await using var h = new ClusterHarness(etcd);
        await h.WipeAsync();
        var node = await h.StartNodeAsync("rn1", cpuMillis: 2000, memory: 1024 * MiB);
        await h.LeaderAsync();
        await h.Client.PutAsync(ClusterKeys.Project("team"), ClusterCodec.Encode(new ClusterProject { Name = "team" }, ClusterJson.Default.ClusterProject));
        await h.Client.PutAsync(ClusterKeys.Project("other"), ClusterCodec.Encode(new ClusterProject { Name = "other" }, ClusterJson.Default.ClusterProject));
        await h.Instances.CreateAsync(ClusterHarness.Instance("web", "team", cpuMillis: 500, memory: 256 * MiB));
        Assert.True(await TestEnvironment.EventuallyAsync(async () => (await FreeAsync(h, "rn1")).MemoryBytes == 768 * MiB, TimeSpan.FromSeconds(20)),
            "the placement did not take 256 MiB from the node");
        var api = new ClusterInstances(node.Etcd, h.Options);

        // A growth takes the difference from the node, and the assignment and the placement amounts follow.
        await api.ResizeAsync("team", "web", 512 * MiB, 1);
        Assert.Equal(new ResourceAmounts(1000, 512 * MiB, 100L << 30, 100_000), await FreeAsync(h, "rn1"));
        Assert.Equal(512 * MiB, (await AssignmentAsync(h, "rn1", "team", "web")).Resources.MemoryBytes);
        Assert.Equal(1000, (await AssignmentAsync(h, "rn1", "team", "web")).Resources.CpuMillis);
        Assert.Equal(512 * MiB, (await h.Instances.GetAsync("team", "web"))!.Desired.Resources.MemoryBytes);

        // Past what the node has free (512 MiB free, 768 MiB more asked): 409 naming the node, its free memory and the way out; nothing changes.
        var refused = await Assert.ThrowsAsync<StrataException>(() => api.ResizeAsync("team", "web", 1280 * MiB, null));
        Assert.Equal(ErrorKind.Conflict, refused.Kind);
        Assert.Contains("node 'rn1' has 1 core and 512 MiB of memory free", refused.Message, StringComparison.Ordinal);
        Assert.Contains("needs 0 cores and 768 MiB more", refused.Message, StringComparison.Ordinal);
        Assert.Contains("strata move web --node NODE", refused.Message, StringComparison.Ordinal);
        var cpus = await Assert.ThrowsAsync<StrataException>(() => api.ResizeAsync("team", "web", null, 3));
        Assert.Contains("needs 2 cores and 0 B more", cpus.Message, StringComparison.Ordinal);
        Assert.Equal(new ResourceAmounts(1000, 512 * MiB, 100L << 30, 100_000), await FreeAsync(h, "rn1"));
        Assert.Equal(512 * MiB, ClusterInstances.SpecOf((await h.Instances.GetAsync("team", "web"))!.Desired).Resources!.MemoryBytes);
        Assert.Equal(512 * MiB, (await h.Instances.UsageAsync("team")).Usage.MemoryBytes);

        // Exactly what is free fits; a shrink is never refused and gives back to the node.
        await api.ResizeAsync("team", "web", 1024 * MiB, null);
        Assert.Equal(0, (await FreeAsync(h, "rn1")).MemoryBytes);
        await api.ResizeAsync("team", "web", 128 * MiB, 0.5);
        Assert.Equal(new ResourceAmounts(1500, 896 * MiB, 100L << 30, 100_000), await FreeAsync(h, "rn1"));

        // Giving back a resize the node could not apply restores the node's count too.
        var counted = await api.ResizeAsync("team", "web", 384 * MiB, null);
        Assert.Equal(640 * MiB, (await FreeAsync(h, "rn1")).MemoryBytes);
        await api.RestoreLimitsAsync("team", "web", counted);
        Assert.Equal(896 * MiB, (await FreeAsync(h, "rn1")).MemoryBytes);

        // Another project's caller finds nothing of it and changes nothing.
        var foreign = await Assert.ThrowsAsync<StrataException>(() => api.ResizeAsync("other", "web", 64 * MiB, null));
        Assert.Equal(ErrorKind.NotFound, foreign.Kind);
        Assert.Equal(896 * MiB, (await FreeAsync(h, "rn1")).MemoryBytes);

        // Removing the resized instance gives the node back its new size: the node is whole again.
        await h.Instances.DeleteAsync("team", "web");
        Assert.Equal(new ResourceAmounts(2000, 1024 * MiB, 100L << 30, 100_000), await FreeAsync(h, "rn1"));
    }

    private static async Task<ResourceAmounts> FreeAsync(ClusterHarness h, string node) =>
        ClusterCodec.Decode((await h.Client.GetAsync(ClusterKeys.Node(node))).Kvs.Single(), ClusterJson.Default.NodeRecord).Free;

    private static async Task<Assignment> AssignmentAsync(ClusterHarness h, string node, string project, string name) =>
        ClusterCodec.Decode((await h.Client.GetAsync(ClusterKeys.Assignment(node, project, name))).Kvs.Single(), ClusterJson.Default.Assignment);
}
