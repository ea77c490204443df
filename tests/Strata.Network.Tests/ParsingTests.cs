using System.Text.Json;
using Strata.Contracts;
using Strata.Node.Networking;

namespace Strata.Network.Tests;

/// <summary>Hermetic: the text forms of published ports, subnets and network names.</summary>
public sealed class ParsingTests
{
    [Theory]
    [InlineData("8080:80", null, 8080, 80, "tcp")]
    [InlineData("127.0.0.1:18080:80", "127.0.0.1", 18080, 80, "tcp")]
    [InlineData("53:5353/udp", null, 53, 5353, "udp")]
    public void PortSpecParse_ValidText_GivesTheParts(string text, string? ip, int host, int container, string protocol)
    {
        var p = PortSpec.Parse(text);
        Assert.Equal((ip, host, container, protocol), (p.HostIp, p.HostPort, p.ContainerPort, p.ProtocolName));
    }

    [Theory]
    [InlineData("80")]
    [InlineData("0:80")]
    [InlineData("8080:70000")]
    [InlineData("8080:80/sctp")]
    [InlineData("::1:8080:80")]
    [InlineData("host:8080:80")]
    public void PortSpecParse_InvalidText_NamesTheField(string text)
    {
        var e = Assert.Throws<StrataException>(() => PortSpec.Parse(text, "--publish"));
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.Equal("--publish", e.Field);
    }

    [Fact]
    public void PortSpecJson_RoundTrips_WithoutDerivedMembers()
    {
        var json = JsonSerializer.Serialize(PortSpec.Parse("127.0.0.1:8080:80"), StrataJsonContext.Default.PortSpec);
        Assert.DoesNotContain("protocolName", json);
        var spec = JsonSerializer.Deserialize(
            """{"network":"apps","ports":[{"hostIp":"127.0.0.1","hostPort":8080,"containerPort":80,"protocol":"tcp"}]}""",
            StrataJsonContext.Default.InstanceSpec)!;
        Assert.Equal(8080, Assert.Single(spec.Ports!).HostPort);
    }

    [Theory]
    [InlineData("10.78.5.7/24", "10.78.5.0/24", "10.78.5.1")]
    [InlineData("10.77.0.0/16", "10.77.0.0/16", "10.77.0.1")]
    public void SubnetParse_NormalisesToTheNetwork(string text, string normal, string gateway)
    {
        var s = Ipv4Subnet.Parse(text);
        Assert.Equal(normal, s.ToString());
        Assert.Equal(gateway, s.Gateway);
    }

    [Theory]
    [InlineData("10.0.0.0")]
    [InlineData("10.0.0.0/30")]
    [InlineData("fd00::/64")]
    [InlineData("10.0.0.0/x")]
    public void SubnetParse_Invalid_IsRefused(string text) =>
        Assert.Equal(ErrorKind.InvalidArgument, Assert.Throws<StrataException>(() => Ipv4Subnet.Parse(text)).Kind);

    [Fact]
    public void SubnetOverlaps_ContainedAndAdjacent()
    {
        var a = Ipv4Subnet.Parse("10.78.0.0/16");
        Assert.True(a.Overlaps(Ipv4Subnet.Parse("10.78.9.0/24")));
        Assert.False(a.Overlaps(Ipv4Subnet.Parse("10.79.0.0/24")));
        Assert.False(Ipv4Subnet.Parse("10.78.0.0/24").Overlaps(Ipv4Subnet.Parse("10.78.1.0/24")));
    }

    [Theory]
    [InlineData("none")]
    [InlineData("host")]
    [InlineData("Upper")]
    [InlineData("-x")]
    [InlineData("a-very-long-network-name-over-32-chars")]
    public void ValidateName_BadOrReserved_IsRefused(string name) =>
        Assert.Throws<StrataException>(() => NetworkRegistry.ValidateName(name));
}
