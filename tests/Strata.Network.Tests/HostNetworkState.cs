using Strata.Testing;

namespace Strata.Network.Tests;

/// <summary>A census of what networking leaves on the host: veths, namespaces of this run, IPAM leases, iptables rules.</summary>
public sealed record HostNetworkState(int Veths, int Namespaces, int Leases, int FilterRules, int NatRules)
{
    public static HostNetworkState Capture(NetworkFixture fx)
    {
        var veths = Directory.GetFileSystemEntries("/sys/class/net", "veth*").Length;
        var namespaces = Directory.Exists("/run/netns") ? Directory.GetFiles("/run/netns", fx.NamespacePrefix + "*").Length : 0;
        return new HostNetworkState(veths, namespaces, NetworkCensus.Leases(fx.Options), NetworkCensus.Rules("filter"), NetworkCensus.Rules("nat"));
    }
}
