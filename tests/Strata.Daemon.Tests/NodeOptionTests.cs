using Strata.Contracts;
using Strata.Contracts.Host;
using Strata.Daemon;

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
}
