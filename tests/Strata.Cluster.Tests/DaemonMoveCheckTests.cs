using System.Text.Json;
using Strata.Client;
using Strata.Contracts;
using Strata.Testing;

namespace Strata.Cluster.Tests;

/// <summary>
/// Two published daemons on the shared etcd: each publishes its CPU, the cluster status shows the guest CPU baseline
/// (TCG on this machine: QEMU's default on every node), and a move by node name to a node without the free memory is
/// refused with a 409 naming what is free and what is needed, before anything starts. A second project's token cannot
/// move it.
/// </summary>
[Collection(EtcdCollection.Name)]
public sealed class DaemonMoveCheckTests(EtcdCluster etcd) : IAsyncLifetime
{
    private readonly ClusterDaemons _daemons = new(etcd, "strata-mv31");

    public async Task InitializeAsync()
    {
        _ = PublishedDaemon.Binary; // skips (fails under CI) when stratad is not published
        await using (var h = new ClusterHarness(etcd))
        {
            await h.WipeAsync();
        }
        foreach (var node in new[] { "mv31n1", "mv31n2" })
        {
            await _daemons.StartAsync(node);
        }
    }

    public async Task DisposeAsync() => await _daemons.DisposeAsync();

    [SkippableFact]
    public async Task MoveByNodeName_ToANodeWithoutRoom_IsRefusedNamingFreeAndNeeded_NothingStarts_StatusShowsTheCpuBaseline()
    {
        var first = _daemons.Nodes[0].Socket;
        Assert.True(await TestEnvironment.EventuallyAsync(async () =>
            JsonDocument.Parse(await first.NodesJsonAsync()).RootElement.EnumerateArray().Count(n => n.GetProperty("status").GetString() == "online") == 2,
            TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(200)));

        // Every node with a guest tier publishes its CPU; with no KVM node the baseline is QEMU's default everywhere.
        var status = JsonDocument.Parse(await first.ClusterStatusJsonAsync()).RootElement;
        var baseline = status.GetProperty("cpuBaseline");
        Assert.False(baseline.TryGetProperty("conflict", out _));
        var nodes = status.GetProperty("nodes").EnumerateArray().ToList();
        var guests = File.Exists("/usr/bin/qemu-system-x86_64") && Directory.GetFiles("/boot", "vmlinuz-*-cloud-amd64").Length > 0;
        Assert.True(!guests || nodes.Count(n => n.TryGetProperty("cpu", out _)) == 2, "QEMU and the guest kernel are here, yet a node published no CPU: " + status);
        foreach (var n in nodes.Where(n => n.GetProperty("tiers").EnumerateArray().Any(t => t.GetProperty("tier").GetString() == "vm")))
        {
            var cpu = n.GetProperty("cpu");
            Assert.False(string.IsNullOrEmpty(cpu.GetProperty("vendor").GetString()));
            if (cpu.GetProperty("accelerator").GetString() == "tcg")
            {
                Assert.False(baseline.TryGetProperty("model", out _), "a TCG-only cluster has no named baseline");
            }
        }

        // Two processes, each reserving 60 % of a node's memory, on each node: neither node has room for the other's.
        var memory = nodes[0].GetProperty("capacity").GetProperty("memoryBytes").GetInt64();
        var share = memory * 6 / 10 / (1L << 20) * (1L << 20);
        foreach (var (name, node) in new[] { ("mv31-a", "mv31n1"), ("mv31-b", "mv31n2") })
        {
            await first.CreateAsync(new InstanceSpec
            {
                Name = name, Tier = "process", Args = ["sleep", "600"],
                Labels = new Dictionary<string, string> { ["strata.cluster/node"] = node },
                Resources = new ResourceSpec { Cpus = 0.1, MemoryBytes = share },
            });
        }
        try
        {
            Assert.True(await TestEnvironment.EventuallyAsync(async () => (await first.ListAsync()).Items.Count(i => i.State == "running") == 2,
                TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(200)), "the two processes did not run");
            var free = JsonDocument.Parse(await first.NodeJsonAsync("mv31n2")).RootElement.GetProperty("free").GetProperty("memoryBytes").GetInt64();
            Assert.True(free < share, $"node mv31n2 has {free} bytes free, not less than {share}");

            // A second project's token: the instance does not exist for it.
            await first.CreateProjectAsync(new CreateProjectRequest { Name = "mv31other" });
            var otherToken = (await first.CreateTokenAsync("mv31other", ProjectRoles.Admin, "mv31")).Token!;
            using (var other = _daemons.Nodes[1].Tcp(otherToken))
            {
                Assert.True(await TestEnvironment.EventuallyAsync(() => ClusterDaemons.Works(() => other.ListAsync()), TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(50)));
                Assert.Equal(404, (await Assert.ThrowsAsync<StrataApiException>(() => other.MoveAsync("mv31-a", new MoveRequest { Node = "mv31n2" }))).Status);
            }

            // Asked of the other node, relayed to mv31n1, refused there before anything starts.
            var refused = await Assert.ThrowsAsync<StrataApiException>(() => _daemons.Nodes[1].Socket.MoveAsync("mv31-a", new MoveRequest { Node = "mv31n2" }));
            Assert.Equal(409, refused.Status);
            Assert.Contains($"node mv31n2 has {Strata.Scheduler.Resources.Bytes(free)} memory", refused.Message, StringComparison.Ordinal);
            Assert.Contains($"instance 'mv31-a' needs {Strata.Scheduler.Resources.Bytes(share)} memory", refused.Message, StringComparison.Ordinal);
            Assert.Contains("strata node ls", refused.Message, StringComparison.Ordinal);
            await using var h = new ClusterHarness(etcd);
            Assert.Empty((await h.Client.GetPrefixAsync(ClusterKeys.Moves)).Kvs);
            Assert.DoesNotContain((await first.ListOperationsAsync()).Items, o => o.Kind == "move");
            var a = await first.GetAsync("mv31-a");
            Assert.Equal("mv31n1", a.Details!["node"]);
            Assert.Equal("running", a.State);
            Assert.DoesNotContain((await h.Client.GetPrefixAsync(ClusterKeys.StatesOf("mv31n2"))).Kvs, kv => ClusterCodec.Key(kv).EndsWith("/mv31-a", StringComparison.Ordinal));
        }
        finally
        {
            // A real process outlives its daemon.
            foreach (var i in (await first.ListAsync()).Items)
            {
                await first.DeleteAsync(i.Name, force: true);
            }
            await using var h = new ClusterHarness(etcd);
            Assert.True(await TestEnvironment.EventuallyAsync(() => h.Client.GetPrefixAsync(ClusterKeys.States).GetAwaiter().GetResult().Kvs.Count == 0,
                TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(200)), "a node still reports a copy after the removal");
        }
    }
}
