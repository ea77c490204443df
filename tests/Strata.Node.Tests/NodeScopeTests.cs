using System.Globalization;
using System.Text.RegularExpressions;
using Strata.Contracts;
using Strata.Node.Cgroups;
using Strata.Node.Networking;

namespace Strata.Node.Tests;

/// <summary>The host-global names a node derives: local keeps the old ones, nodes never share one, kernel limits hold.</summary>
public sealed partial class NodeScopeTests
{
    /// <summary>A cluster's likely names, the longest allowed, and names that are prefixes of each other.</summary>
    private static readonly string[] s_nodes =
    [
        "local", "a", "b", "node", "node-1", "node-10", "node-11", "edge", "rack7-host12",
        new string('z', 32), "a1234567890123456789012345678901", .. Enumerable.Range(1, 300).Select(i => "node-" + i.ToString(CultureInfo.InvariantCulture)),
    ];

    [Fact]
    public void Local_KeepsTheNamesEveryExistingInstallHas()
    {
        var local = NodeScope.Local;

        Assert.True(local.IsLocal);
        Assert.Equal("strata", local.CgroupParent);
        Assert.Equal(CgroupSet.DefaultParent, local.CgroupParent);
        Assert.Equal("strata", local.BridgePrefix);
        Assert.Equal("strata-", local.NamespacePrefix);
        Assert.Equal("stap", local.TapPrefix);
        Assert.Equal("", local.CniNamePrefix);
        Assert.Equal("10.77.0.0/16", local.DefaultSubnet);
        Assert.Equal(0, local.SubnetPoolStart);
        Assert.Equal("/run/strata/docker.sock", local.DockerSocket);
        Assert.Equal("STRATA-HOST-strata1", NodeScope.HostChain(local.BridgePrefix + "1"));
        // The options an embedded registry gets without a node are the local node's, field for field.
        Assert.Equal(new NetworkOptions { StateDirectory = "/x" }, local.Networks("/x"));
    }

    [Fact]
    public void OtherNodes_DeriveEveryNameFromTheirOwn()
    {
        var n = new NodeScope("node-1");

        Assert.False(n.IsLocal);
        Assert.Equal("strata-node-1", n.CgroupParent);
        Assert.Equal("strata-node-1-", n.NamespacePrefix);
        Assert.Equal("node-1_", n.CniNamePrefix);
        Assert.Equal("/run/strata/docker-node-1.sock", n.DockerSocket);
        Assert.Matches("^sb[0-9a-f]{6}$", n.BridgePrefix);
        Assert.Matches("^st[0-9a-f]{5}$", n.TapPrefix);
        Assert.Matches(@"^10\.79\.\d{1,3}\.0/24$", n.DefaultSubnet);
        Assert.Equal(n, new NodeScope("node-1")); // stable: the same names at every start
        var options = n.Networks("/r/networks");
        Assert.Equal((n.BridgePrefix, n.NamespacePrefix, n.TapPrefix, n.CniNamePrefix, n.DefaultSubnet, n.SubnetPoolStart),
            (options.BridgePrefix, options.NamespacePrefix, options.TapPrefix, options.CniNamePrefix, options.DefaultSubnet, options.SubnetPoolStart));
    }

    [Fact]
    public void EveryName_StaysWithinTheKernelsLimits()
    {
        foreach (var node in s_nodes.Select(s => new NodeScope(s)))
        {
            // Bridges up to network number 9,999,999; taps keep at least 8 characters of the instance id.
            Assert.True((node.BridgePrefix + "9999999").Length <= NodeScope.InterfaceNameLimit, node.Name);
            Assert.True(NodeScope.InterfaceNameLimit - node.TapPrefix.Length >= 8, node.Name);
            Assert.True(NodeScope.HostChain(node.BridgePrefix + "9999999").Length <= NodeScope.ChainNameLimit, node.Name);
            Assert.Matches(CniName(), node.CniNamePrefix + "apps.project-name.2");
            Assert.True(node.NamespacePrefix.Length + 32 <= 255, node.Name);
            Assert.True(System.Text.Encoding.UTF8.GetByteCount(node.DockerSocket) <= 107, node.Name);
            Ipv4Subnet.Parse(node.DefaultSubnet);
        }
    }

    [Fact]
    public void DistinctNodes_NeverShareAName_NorAPrefixOfOne()
    {
        var scopes = s_nodes.Select(s => new NodeScope(s)).ToList();
        foreach (var a in scopes)
        {
            foreach (var b in scopes.Where(b => b != a))
            {
                // Bridges and taps are matched by whole prefix: neither node's may start the other's.
                Assert.False(a.BridgePrefix.StartsWith(b.BridgePrefix, StringComparison.Ordinal), $"{a.Name} / {b.Name} bridges");
                Assert.False(a.TapPrefix.StartsWith(b.TapPrefix, StringComparison.Ordinal), $"{a.Name} / {b.Name} taps");
                Assert.NotEqual(a.CgroupParent, b.CgroupParent);
                Assert.NotEqual(a.CniNamePrefix, b.CniNamePrefix);
                Assert.NotEqual(a.DockerSocket, b.DockerSocket);
                // Namespaces: PREFIX + a 32-hex instance id (no dash), so the full names of two nodes never meet.
                Assert.False(NamespaceOf(a, "0123456789abcdef0123456789abcdef") == NamespaceOf(b, "0123456789abcdef0123456789abcdef"));
                Assert.False(Regex.IsMatch(NamespaceOf(b, "0123456789abcdef0123456789abcdef"), "^" + Regex.Escape(a.NamespacePrefix) + "[0-9a-f]{32}$"),
                    $"{b.Name}'s namespace reads as one of {a.Name}'s");
            }
        }
    }

    [Fact]
    public void BadNames_AreRefused()
    {
        var e = Assert.Throws<StrataException>(() => new NodeScope("Node_1"));
        Assert.Equal("node", e.Field);
    }

    [Fact]
    public async Task Registry_OfANode_NamesItsBridgesAndCniNetworksAfterTheNode()
    {
        var dir = Directory.CreateTempSubdirectory("strata-nodescope-").FullName;
        try
        {
            var scope = new NodeScope("node-7");
            using var registry = new NetworkRegistry(scope.Networks(dir) with { SubnetPool = "10.251.0.0/16" });

            var created = await registry.CreateAsync(new CreateNetworkRequest { Name = "apps" }, "default", CancellationToken.None);
            var tenant = await registry.CreateAsync(new CreateNetworkRequest { Name = "apps" }, "team-a", CancellationToken.None);

            Assert.StartsWith(scope.BridgePrefix, created.Bridge, StringComparison.Ordinal);
            Assert.StartsWith(scope.BridgePrefix, tenant.Bridge, StringComparison.Ordinal);
            // The search for a free /24 starts at the node's own place in the pool.
            var start = Ipv4Subnet.Parse("10.251.0.0/16").Network + (uint)scope.SubnetPoolStart * 256;
            Assert.True(Ipv4Subnet.Parse(created.Subnet).Network >= start || scope.SubnetPoolStart == 0, created.Subnet);
            var state = await File.ReadAllTextAsync(Path.Combine(dir, "networks.json"));
            Assert.Contains("\"cniName\": \"node-7_apps\"", state, StringComparison.Ordinal);
            Assert.Contains("\"cniName\": \"node-7_apps.team-a\"", state, StringComparison.Ordinal);
            Assert.Contains(registry.List("default"), n => n.Default && n.Subnet == scope.DefaultSubnet && n.Bridge == scope.BridgePrefix + "0");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Registry_OfLocal_KeepsCniNamesAsBefore()
    {
        var dir = Directory.CreateTempSubdirectory("strata-nodescope-").FullName;
        try
        {
            using var registry = new NetworkRegistry(NodeScope.Local.Networks(dir) with { SubnetPool = "10.252.0.0/16", BridgePrefix = "stz" + Random.Shared.Next(1000, 9999).ToString(CultureInfo.InvariantCulture) });
            await registry.CreateAsync(new CreateNetworkRequest { Name = "apps" }, "default", CancellationToken.None);
            await registry.CreateAsync(new CreateNetworkRequest { Name = "apps" }, "team-a", CancellationToken.None);

            var state = await File.ReadAllTextAsync(Path.Combine(dir, "networks.json"));
            Assert.Contains("\"cniName\": \"apps\"", state, StringComparison.Ordinal);
            Assert.Contains("\"cniName\": \"apps.team-a\"", state, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static string NamespaceOf(NodeScope scope, string instanceId) => scope.NamespacePrefix + instanceId;

    /// <summary>What CNI accepts as a network name (libcni's validation).</summary>
    [GeneratedRegex("^[a-zA-Z0-9][a-zA-Z0-9_.\\-]*$")]
    private static partial Regex CniName();
}
