using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Strata.Testing;

namespace Strata.Cluster.Tests;

/// <summary>
/// The per-node list cache against real etcd: lists are never older than the writes before them (from any
/// connection), stay per project, survive a broken watch without missing a change, and read everything again
/// when etcd compacted past them.
/// </summary>
[Collection(EtcdCollection.Name)]
public sealed class InstanceListCacheTests(EtcdCluster etcd)
{
    private static byte[] Shape(ClusterInstance i) => Encoding.UTF8.GetBytes(i.Desired.Project + "/" + i.Desired.Name + "=" + i.Status);

    private static DesiredInstance Small(string name, string project) => ClusterHarness.Instance(name, project, cpuMillis: 10, memory: 16L << 20);

    private static async Task<List<string>> ListAsync(InstanceListCache cache, string project) =>
        [.. (await cache.ListAsync(project) ?? throw new InvalidOperationException("the cache did not catch up")).Select(b => Encoding.UTF8.GetString(b))];

    [SkippableFact]
    public async Task EveryListShowsTheWritesBeforeIt_AndOnlyTheCallersProject()
    {
        await using var h = new ClusterHarness(etcd);
        await h.WipeAsync();
        await h.StartNodeAsync("clu19-l1");
        await h.LeaderAsync();
        await h.Client.PutAsync(ClusterKeys.Project("clu19a"), ClusterCodec.Encode(new ClusterProject { Name = "clu19a" }, ClusterJson.Default.ClusterProject));
        await h.Client.PutAsync(ClusterKeys.Project("clu19b"), ClusterCodec.Encode(new ClusterProject { Name = "clu19b" }, ClusterJson.Default.ClusterProject));
        using var reader = new Etcd.EtcdConnection(etcd.ConnectionString);
        await using var cache = new InstanceListCache(reader, Shape, NullLogger.Instance);
        cache.Start();

        // Admitted through another connection, listed by the very next call: 40 times in a row.
        for (var i = 0; i < 40; i++)
        {
            await h.Instances.AdmitAsync(Small($"p{i:D2}", "clu19a"));
            Assert.Contains($"clu19a/p{i:D2}=", string.Join(' ', await ListAsync(cache, "clu19a")), StringComparison.Ordinal);
        }
        var placed = await h.Instances.CreateAsync(Small("web", "clu19a"));
        Assert.Contains("clu19a/web=", string.Join(' ', await ListAsync(cache, "clu19a")), StringComparison.Ordinal);
        await h.Instances.CreateAsync(Small("web", "clu19b"));

        // The second project sees its own instance of the same name and nothing of the first's.
        Assert.Equal(["clu19b/web=starting"], (await ListAsync(cache, "clu19b")).Select(s => s.Replace("=running", "=starting", StringComparison.Ordinal)));
        Assert.Empty(await ListAsync(cache, "clu19-none"));
        Assert.DoesNotContain(await ListAsync(cache, "clu19a"), s => s.StartsWith("clu19b/", StringComparison.Ordinal));

        // The node's state report reaches the list; a deletion leaves it at once.
        Assert.True(await TestEnvironment.EventuallyAsync(() => ListAsync(cache, "clu19a").GetAwaiter().GetResult().Contains("clu19a/web=running"),
            TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(50)), "the node's report did not reach the cached list");
        await h.Instances.DeleteAsync("clu19a", placed.Name);
        Assert.DoesNotContain("clu19a/web=running", await ListAsync(cache, "clu19a"));
        Assert.Equal(40, (await ListAsync(cache, "clu19a")).Count);
        Assert.Equal(1, cache.Snapshots);
    }

    [SkippableFact]
    public async Task ABrokenWatchMissesNothing_ACompactionPastItReadsEverythingAgain_AndABehindCacheNeverAnswers()
    {
        await using var h = new ClusterHarness(etcd);
        await h.WipeAsync();
        using var reader = new Etcd.EtcdConnection(etcd.ConnectionString);
        await using var cache = new InstanceListCache(reader, Shape, NullLogger.Instance) { CatchUpTimeout = TimeSpan.FromMilliseconds(500) };
        cache.Start();
        await h.Instances.AdmitAsync(ClusterHarness.Instance("x1"));
        Assert.Equal(["default/x1=pending"], await ListAsync(cache, "default"));

        // Cut off: a write it has not seen makes it answer null (read etcd instead), never an old list.
        cache.Pause();
        await h.Instances.AdmitAsync(ClusterHarness.Instance("x2"));
        Assert.Null(await cache.ListAsync("default"));
        // Reconnected from its last revision: the change made meanwhile arrives, without reading everything.
        cache.Resume();
        Assert.Equal(["default/x1=pending", "default/x2=pending"], await ListAsync(cache, "default"));
        Assert.Equal(1, cache.Snapshots);

        // Cut off while a record is removed and etcd compacts its history: the watch cannot resume, it reads everything.
        cache.Pause();
        await h.Instances.DeleteAsync("default", "x1");
        var admitted = await h.Instances.AdmitAsync(ClusterHarness.Instance("x3"));
        await h.Client.CompactAsync(admitted);
        cache.Resume();
        Assert.Equal(["default/x2=pending", "default/x3=pending"], await ListAsync(cache, "default"));
        Assert.Equal(2, cache.Snapshots);
    }
}
