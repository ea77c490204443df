using Strata.Cluster.Etcd;
using Strata.Contracts;
using Strata.Testing;

namespace Strata.Cluster.Tests;

[Collection(EtcdCollection.Name)]
public sealed class QuotaTests(EtcdCluster etcd)
{
    private static async Task PutProjectAsync(EtcdConnection c, ClusterProject p) =>
        await c.PutAsync(ClusterKeys.Project(p.Name), ClusterCodec.Encode(p, ClusterJson.Default.ClusterProject));

    /// <summary>3 clients, each with its own etcd connection and its own admissions (as three nodes' APIs), create <paramref name="total"/> instances at once.</summary>
    private static async Task<(int Created, List<Exception> Refused)> BurstAsync(EtcdCluster etcd, ClusterOptions options, string project, int total, long cpuMillis, int parallel = 8)
    {
        var refused = new List<Exception>();
        var created = 0;
        var clients = Enumerable.Range(0, 3).Select(_ => new EtcdConnection(etcd.ConnectionString)).ToList();
        try
        {
            await Task.WhenAll(clients.Select((c, ci) => Task.Run(async () =>
            {
                var api = new ClusterInstances(c, options);
                await Parallel.ForEachAsync(Enumerable.Range(0, total / 3 + (ci < total % 3 ? 1 : 0)), new ParallelOptions { MaxDegreeOfParallelism = parallel }, async (i, ct) =>
                {
                    try
                    {
                        await api.CreateAsync(ClusterHarness.Instance($"c{ci}-{i}", project, cpuMillis: cpuMillis), ct);
                        Interlocked.Increment(ref created);
                    }
                    catch (StrataException e)
                    {
                        lock (refused)
                        {
                            refused.Add(e);
                        }
                    }
                });
            })));
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
        return (created, refused);
    }

    [SkippableFact]
    public async Task ThreeClientsCreate1000AtOnce_ExactlyTheInstanceQuotaIsAdmitted_NeverMore()
    {
        await using var h = new ClusterHarness(etcd);
        await h.WipeAsync();
        foreach (var n in new[] { "q1", "q2", "q3" })
        {
            await h.StartNodeAsync(n, cpuMillis: 64_000, memory: 256L << 30);
        }
        await h.LeaderAsync();
        await PutProjectAsync(h.Client, new ClusterProject { Name = "team", Quota = new ProjectQuota { Instances = 700 } });
        // 1,000 creates, 3 × 48 at a time: each client's admissions share transactions (group commit), the three race on the usage record.
        var (created, refused) = await BurstAsync(etcd, h.Options, "team", total: 1000, cpuMillis: 10, parallel: 48);
        Assert.Equal(700, created);
        Assert.Equal(300, refused.Count);
        Assert.All(refused, e => Assert.Contains("instance quota", e.Message, StringComparison.Ordinal));
        Assert.Equal(700, (await h.Instances.ListAsync("team")).Count(i => i.Desired.Node is not null));
        Assert.Equal(700, (await h.Instances.UsageAsync("team")).Usage.Instances);
        // Across the three nodes, exactly 700 assignments (none twice), and nothing left pending.
        var assigned = (await h.Client.GetPrefixAsync(ClusterKeys.Assignments, keysOnly: true)).Kvs.Select(ClusterCodec.Key).ToList();
        Assert.Equal(700, assigned.Count);
        Assert.Equal(700, assigned.Select(k => ClusterKeys.ProjectAndName(k).Name).Distinct().Count());
        Assert.Empty((await h.Client.GetPrefixAsync(ClusterKeys.Pending, keysOnly: true)).Kvs);
    }

    [SkippableFact]
    public async Task ThreeClientsAtOnce_FillTheNodesExactly_NoNodeOverfilled()
    {
        await using var h = new ClusterHarness(etcd);
        await h.WipeAsync();
        foreach (var n in new[] { "c1", "c2", "c3" })
        {
            await h.StartNodeAsync(n, cpuMillis: 4000);
        }
        await h.LeaderAsync();
        // 3 × 4 cores hold 24 instances of half a core: 45 asked.
        var (created, refused) = await BurstAsync(etcd, h.Options, "default", total: 45, cpuMillis: 500);
        Assert.Equal(24, created);
        Assert.All(refused, e => Assert.Contains("no node can take", e.Message, StringComparison.Ordinal));
        foreach (var n in await ClusterView.NodesAsync(h.Client))
        {
            Assert.Equal(0, n.Record!.Free.CpuMillis);
            Assert.Equal(8, (await h.Client.GetPrefixAsync(ClusterKeys.AssignmentsOf(n.Name))).Kvs.Count);
        }
        // Refused creates gave their quota share back.
        Assert.Equal(24, (await h.Instances.UsageAsync("default")).Usage.Instances);
    }

    [SkippableFact]
    public async Task ASecondProject_SeesAndTouchesNothingOfTheFirst()
    {
        await using var h = new ClusterHarness(etcd);
        await h.WipeAsync();
        await h.StartNodeAsync("p1");
        await h.StartNodeAsync("p2");
        await h.LeaderAsync();
        await PutProjectAsync(h.Client, new ClusterProject { Name = "alpha" });
        await PutProjectAsync(h.Client, new ClusterProject { Name = "beta", Quota = new ProjectQuota { Instances = 1 } });
        await h.Instances.CreateAsync(ClusterHarness.Instance("db", "alpha"));
        await h.Instances.CreateAsync(ClusterHarness.Instance("web", "alpha"));
        await h.Instances.CreateAsync(ClusterHarness.Instance("db", "beta"));
        var beta = await h.Instances.ListAsync("beta");
        Assert.Equal(["db"], beta.Select(i => i.Desired.Name));
        Assert.All(beta, i => Assert.Equal("beta", i.Desired.Project));
        Assert.Null(await h.Instances.GetAsync("beta", "web"));
        await Assert.ThrowsAsync<StrataException>(() => h.Instances.DeleteAsync("beta", "web"));
        // beta's quota does not count alpha's instances, and alpha's are untouched.
        Assert.Equal(1, (await h.Instances.UsageAsync("beta")).Usage.Instances);
        Assert.Equal(2, (await h.Instances.ListAsync("alpha")).Count);
        // Deleting beta's "db" leaves alpha's "db" in place on its node.
        await h.Instances.DeleteAsync("beta", "db");
        Assert.NotNull(await h.Instances.GetAsync("alpha", "db"));
        Assert.True(await TestEnvironment.EventuallyAsync(() => h.Nodes.SelectMany(n => n.Workloads.Copies).Count() == 2, TimeSpan.FromSeconds(10)));
        Assert.All(h.Nodes.SelectMany(n => n.Workloads.Copies), c => Assert.Equal("alpha", c.Project));
        // A project that does not exist admits nothing.
        var e = await Assert.ThrowsAsync<StrataException>(() => h.Instances.CreateAsync(ClusterHarness.Instance("x", "nope")));
        Assert.Equal(ErrorKind.NotFound, e.Kind);
    }
}
