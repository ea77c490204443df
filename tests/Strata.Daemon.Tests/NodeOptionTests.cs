using Strata.Contracts;
using Strata.Contracts.Host;
using Strata.Daemon;
using Strata.Node;

namespace Strata.Daemon.Tests;

/// <summary>stratad --node: the name host-global resources and the cluster derive from.</summary>
public sealed class NodeOptionTests
{
    [Fact]
    public void Default_IsLocal()
    {
        Assert.Equal(NodeName.Default, DaemonOptions.Parse(["--no-docker-socket"]).Node);
    }

    [Theory]
    [InlineData("node-1")]
    [InlineData("a")]
    [InlineData("rack7-host12")]
    public void ValidNames_AreTaken(string name)
    {
        Assert.Equal(name, DaemonOptions.Parse(["--no-docker-socket", "--node", name]).Node);
        Assert.Equal(name, DaemonOptions.Parse(["--no-docker-socket", $"--node={name}"]).Node);
    }

    [Theory]
    [InlineData("")]
    [InlineData("Node1")]
    [InlineData("-edge")]
    [InlineData("edge-")]
    [InlineData("a.b")]
    [InlineData("name-with-more-than-thirty-two-chars")]
    public void BadNames_AreRefused_NamingTheFlagAndTheRule(string name)
    {
        var e = Assert.Throws<StrataException>(() => DaemonOptions.Parse(["--no-docker-socket", "--node", name]));
        Assert.Equal("--node", e.Field);
        Assert.Contains("lower-case letters, digits and inner dashes", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DockerSocket_WhenNoneIsNamed_IsTheNodes()
    {
        Assert.Equal("/run/strata/docker.sock", Assert.Single(DaemonOptions.Parse([]).DockerSockets).Path);
        Assert.Equal("/run/strata/docker-edge-2.sock", Assert.Single(DaemonOptions.Parse(["--node", "edge-2"]).DockerSockets).Path);
    }

    [Fact]
    public void DataRoot_BelongsToTheNodeItWasFirstStartedWith()
    {
        var root = Directory.CreateTempSubdirectory("strata-node-root-").FullName;
        try
        {
            DaemonHost.ClaimRootForNode(root, new NodeScope("edge-1"));
            Assert.Equal("edge-1", File.ReadAllText(Path.Combine(root, DaemonHost.NodeFile)).Trim());
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(root, DaemonHost.NodeFile)));
            DaemonHost.ClaimRootForNode(root, new NodeScope("edge-1")); // the same node again: fine

            var e = Assert.Throws<StrataException>(() => DaemonHost.ClaimRootForNode(root, new NodeScope("edge-2")));
            Assert.Equal("--node", e.Field);
            Assert.Contains("belongs to node 'edge-1'", e.Message, StringComparison.Ordinal);
            Assert.Contains("--node edge-1", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public void DataRoot_FromBeforeNodeNames_BelongsToLocal()
    {
        var root = Directory.CreateTempSubdirectory("strata-node-root-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(root, "state.db"), "");
            var e = Assert.Throws<StrataException>(() => DaemonHost.ClaimRootForNode(root, new NodeScope("edge-1")));
            Assert.Contains("belongs to node 'local'", e.Message, StringComparison.Ordinal);

            DaemonHost.ClaimRootForNode(root, NodeScope.Local);
            Assert.Equal("local", File.ReadAllText(Path.Combine(root, DaemonHost.NodeFile)).Trim());
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
