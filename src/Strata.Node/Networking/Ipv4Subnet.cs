using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Strata.Contracts;

namespace Strata.Node.Networking;

/// <summary>An IPv4 CIDR block, normalised to its network address.</summary>
public readonly record struct Ipv4Subnet(uint Network, int Prefix)
{
    public uint Mask => Prefix == 0 ? 0 : uint.MaxValue << (32 - Prefix);

    public uint Last => Network | ~Mask;

    /// <summary>The bridge's own address: the first host address.</summary>
    public string Gateway => Format(Network + 1);

    public bool Overlaps(Ipv4Subnet other) => Network <= other.Last && other.Network <= Last;

    public override string ToString() => $"{Format(Network)}/{Prefix.ToString(CultureInfo.InvariantCulture)}";

    public static string Format(uint address)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, address);
        return new IPAddress(b).ToString();
    }

    public static Ipv4Subnet Parse(string text, string field = "subnet")
    {
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0 || !IPAddress.TryParse(text[..slash], out var ip) || ip.AddressFamily != AddressFamily.InterNetwork
            || !int.TryParse(text[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var prefix))
        {
            throw StrataException.Invalid(field, $"'{text}' is not an IPv4 CIDR such as 10.78.5.0/24");
        }
        if (prefix is < 8 or > 28)
        {
            throw StrataException.Invalid(field, $"'{text}': the prefix must be /8 to /28 (room for a gateway and instances)");
        }
        var subnet = new Ipv4Subnet(BinaryPrimitives.ReadUInt32BigEndian(ip.GetAddressBytes()), prefix);
        return subnet with { Network = subnet.Network & subnet.Mask };
    }

    /// <summary>The host's IPv4 routes except the default route (from /proc/net/route: little-endian hex).</summary>
    public static IEnumerable<(string Device, Ipv4Subnet Subnet)> HostRoutes()
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines("/proc/net/route");
        }
        catch (IOException)
        {
            yield break;
        }
        foreach (var line in lines.Skip(1))
        {
            var cols = line.Split('\t', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (cols.Length < 8
                || !uint.TryParse(cols[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var dest)
                || !uint.TryParse(cols[7], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var mask)
                || mask == 0)
            {
                continue;
            }
            var network = BinaryPrimitives.ReverseEndianness(dest);
            var m = BinaryPrimitives.ReverseEndianness(mask);
            yield return (cols[0], new Ipv4Subnet(network, 32 - System.Numerics.BitOperations.TrailingZeroCount(m)));
        }
    }
}
