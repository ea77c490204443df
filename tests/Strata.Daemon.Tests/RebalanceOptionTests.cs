using Strata.Contracts;
using Strata.Daemon;

namespace Strata.Daemon.Tests;

/// <summary>stratad --rebalance, --rebalance-interval and --rebalance-threshold: bad values are refused naming the flag and what it takes.</summary>
public sealed class RebalanceOptionTests
{
    [Theory]
    [InlineData("--rebalance", "sideways", "give off, dry-run or auto")]
    [InlineData("--rebalance-interval", "0", "whole number of seconds of at least 1")]
    [InlineData("--rebalance-threshold", "1.5", "fraction between 0 and 1")]
    [InlineData("--rebalance-threshold", "x", "fraction between 0 and 1")]
    public void BadValues_AreRefused_NamingTheFlag(string flag, string value, string says)
    {
        var e = Assert.Throws<StrataException>(() => DaemonOptions.Parse(["--no-docker-socket", "--node", "n1", flag, value]));
        Assert.Equal(flag, e.Field);
        Assert.Contains(says, e.Message, StringComparison.Ordinal);
    }
}
