using Strata.Cluster.Etcd;
using Strata.Testing;

namespace Strata.Cluster.Tests;

[Collection(EtcdCollection.Name)]
public sealed class QuorumTests(EtcdCluster etcd)
{
    [SkippableFact]
    public async Task OneEtcdMemberDown_NothingChanges_TwoDown_503NamingEtcd_WorkloadsKeepRunning_ThenRecovers()
    {
        await using var h = new ClusterHarness(etcd, new ClusterOptions { LeaseTtl = TimeSpan.FromSeconds(10) });
        await h.WipeAsync();
        await h.StartNodeAsync("e1");
        await h.StartNodeAsync("e2");
        await h.LeaderAsync();
        await h.Instances.CreateAsync(ClusterHarness.Instance("before"));
        try
        {
            etcd.Kill(0);
            var one = await h.Instances.CreateAsync(ClusterHarness.Instance("one-down"));
            Assert.NotNull(one.Node);
            // Its node's agent runs it, even if its watch was on the member that died.
            Assert.True(await TestEnvironment.EventuallyAsync(() => h.Nodes.Sum(n => n.Workloads.Copies.Count) == 2, TimeSpan.FromSeconds(10)));

            etcd.Kill(1);
            var e = await Assert.ThrowsAsync<EtcdUnavailableException>(() => h.Instances.CreateAsync(ClusterHarness.Instance("no-quorum")));
            Assert.Contains("etcd is unavailable", e.Message, StringComparison.Ordinal);
            Assert.Contains("quorum", e.Message, StringComparison.Ordinal);
            Assert.Contains("running workloads keep running", e.Message, StringComparison.Ordinal);
            // The nodes' copies are untouched.
            Assert.Equal(2, h.Nodes.Sum(n => n.Workloads.Copies.Count));
        }
        finally
        {
            await etcd.RestartAsync(0);
            await etcd.RestartAsync(1);
        }
        DesiredInstance? after = null;
        Assert.True(await TestEnvironment.EventuallyAsync(() =>
        {
            try
            {
                after = h.Instances.CreateAsync(ClusterHarness.Instance("after")).GetAwaiter().GetResult();
                return true;
            }
            catch (EtcdUnavailableException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(500)));
        Assert.NotNull(after!.Node);
        Assert.Equal(2, h.Nodes.Sum(n => n.Workloads.Copies.Count(c => c.Name != "after")));
    }
}
