using System.Diagnostics;
using System.Text.Json;
using Strata.Client;
using Strata.Contracts;
using Strata.Testing;

namespace Strata.Cluster.Tests;

/// <summary>
/// Three published stratad daemons joined to the shared etcd cluster on loopback (fake tier, no host-global
/// resources): placement through the API of any node, listing from another, and the loss of a node.
/// </summary>
[Collection(EtcdCollection.Name)]
public sealed class DaemonClusterTests(EtcdCluster etcd) : IAsyncLifetime
{
    private readonly ClusterDaemons _daemons = new(etcd, "strata-cl");
    private readonly List<(string Node, Process Daemon, StrataClient Client)> _nodes = [];

    public async Task InitializeAsync()
    {
        _ = PublishedDaemon.Binary; // skips (fails under CI) when stratad is not published
        await using (var h = new ClusterHarness(etcd))
        {
            await h.WipeAsync();
        }
        foreach (var node in new[] { "dn1", "dn2", "dn3" })
        {
            var d = await _daemons.StartAsync(node);
            _nodes.Add((node, d.Process, d.Socket));
        }
    }

    public async Task DisposeAsync() => await _daemons.DisposeAsync();

    private static InstanceSpec Fake(string name) => new()
    {
        Name = name,
        Tier = "fake",
        Args = ["sleep"],
        Restart = "always",
        Resources = new ResourceSpec { Cpus = 0.1, MemoryBytes = 32L << 20 },
    };

    private static List<JsonElement> Nodes(StrataClient c) =>
        [.. JsonDocument.Parse(c.GetTextAsync("v1/cluster/nodes").GetAwaiter().GetResult()).RootElement.EnumerateArray()];

    [SkippableFact]
    public async Task ThreeDaemons_PlaceThroughAnyNode_ListFromAnother_AndReplaceAKilledNodesInstances()
    {
        var (_, _, first) = _nodes[0];
        var (_, _, second) = _nodes[1];
        Assert.True(await TestEnvironment.EventuallyAsync(() => Nodes(second).Count(n => n.GetProperty("status").GetString() == "online") == 3,
            TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(200)));
        var created = new List<InstanceInfo>();
        for (var i = 0; i < 3; i++)
        {
            created.Add(await first.CreateAsync(Fake($"web-{i}")));
        }
        // Bin-pack: one node takes them all, and says why.
        var holder = created[0].Details!["node"];
        Assert.All(created, c => Assert.Equal(holder, c.Details!["node"]));
        Assert.Contains("binpack", created[0].Details!["whyNode"], StringComparison.Ordinal);
        // Another node lists them, running on the holder (its agent ran them through its own fake driver).
        Assert.True(await TestEnvironment.EventuallyAsync(() =>
            second.ListAsync().GetAwaiter().GetResult().Items.Count(i => i.State == "running") == 3, TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(200)));

        // kill -9 of the holder: offline within 20 s, its restart-always instances placed once elsewhere after the grace.
        var victim = _nodes.Single(n => n.Node == holder);
        var survivor = _nodes.First(n => n.Node != holder).Client;
        var sw = Stopwatch.StartNew();
        await PublishedDaemon.KillAsync(victim.Daemon);
        Assert.True(await TestEnvironment.EventuallyAsync(() => Nodes(survivor).Single(n => n.GetProperty("name").GetString() == holder).GetProperty("status").GetString() == "offline",
            TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(200)), "the killed node was not offline within 20 s");
        Assert.True(sw.Elapsed <= TimeSpan.FromSeconds(20));
        Assert.True(await TestEnvironment.EventuallyAsync(() =>
        {
            var items = survivor.ListAsync().GetAwaiter().GetResult().Items;
            return items.Count == 3 && items.All(i => i.State == "running" && i.Details!["node"] != holder);
        }, TimeSpan.FromSeconds(40), TimeSpan.FromMilliseconds(250)), "the instances were not running elsewhere after the grace");
        var moved = await survivor.GetAsync("web-0");
        Assert.NotEqual(holder, moved.Details!["node"]);
    }
}
