using System.Globalization;
using System.Net;

namespace Strata.Contracts;

/// <summary>
/// A published port: traffic to <see cref="HostIp"/>:<see cref="HostPort"/> on the host is forwarded to
/// <see cref="ContainerPort"/> of the instance. Text form (CLI <c>-p</c>): <c>[IP:]HOST:CTR[/tcp|udp]</c>.
/// </summary>
public sealed record PortSpec
{
    /// <summary>Host address to listen on; null or <c>0.0.0.0</c> = every host address.</summary>
    public string? HostIp { get; init; }

    public int HostPort { get; init; }

    public int ContainerPort { get; init; }

    /// <summary><c>tcp</c> (default) or <c>udp</c>.</summary>
    public string? Protocol { get; init; }

    [System.Text.Json.Serialization.JsonIgnore]
    public string ProtocolName => Protocol ?? "tcp";

    public override string ToString() =>
        $"{(HostIp is null ? "" : HostIp + ":")}{HostPort.ToString(CultureInfo.InvariantCulture)}:{ContainerPort.ToString(CultureInfo.InvariantCulture)}/{ProtocolName}";

    /// <summary>Parses <c>[IP:]HOST:CTR[/tcp|udp]</c>; the error names <paramref name="field"/>.</summary>
    public static PortSpec Parse(string text, string field = "ports")
    {
        var protocol = "tcp";
        var body = text;
        var slash = text.LastIndexOf('/');
        if (slash >= 0)
        {
            protocol = text[(slash + 1)..];
            body = text[..slash];
        }
        var parts = body.Split(':');
        string? ip = null;
        if (parts.Length == 3)
        {
            ip = parts[0];
            parts = parts[1..];
        }
        if (parts.Length != 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var host)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var container))
        {
            throw StrataException.Invalid(field, $"'{text}' is not a published port; use [IP:]HOST_PORT:PORT[/tcp|udp], e.g. 127.0.0.1:8080:80");
        }
        var spec = new PortSpec { HostIp = ip, HostPort = host, ContainerPort = container, Protocol = protocol };
        spec.Validate(field);
        return spec;
    }

    public void Validate(string field)
    {
        if (HostPort is < 1 or > 65535 || ContainerPort is < 1 or > 65535)
        {
            throw StrataException.Invalid(field, $"'{this}': ports are 1-65535");
        }
        if (Protocol is not (null or "tcp" or "udp"))
        {
            throw StrataException.Invalid(field, $"'{Protocol}' is not a protocol; use tcp or udp");
        }
        if (HostIp is not null && (!IPAddress.TryParse(HostIp, out var a) || a.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork))
        {
            throw StrataException.Invalid(field, $"'{HostIp}' is not an IPv4 address of this host (published ports are IPv4)");
        }
    }
}

/// <summary>Body of <c>POST /v1/networks</c>.</summary>
public sealed record CreateNetworkRequest
{
    /// <summary>DNS label, at most 32 characters.</summary>
    public required string Name { get; init; }

    /// <summary>IPv4 CIDR such as <c>10.78.5.0/24</c>; a free /24 is picked when omitted.</summary>
    public string? Subnet { get; init; }

    /// <summary>No NAT and no default route: members reach each other and the host, nothing beyond.</summary>
    public bool Internal { get; init; }

    /// <summary>
    /// Members of a network of a project other than <c>default</c> may reach services on the host's own addresses
    /// (they are dropped otherwise). Host administrators only.
    /// </summary>
    public bool AllowHost { get; init; }
}

/// <summary>A network as the API returns it.</summary>
public sealed record NetworkInfo
{
    public required string Name { get; init; }
    /// <summary>The project that owns it; null for the default network, which every project may use.</summary>
    public string? Project { get; init; }
    public required string Subnet { get; init; }
    public required string Gateway { get; init; }
    /// <summary>The host's bridge device.</summary>
    public required string Bridge { get; init; }
    public bool Internal { get; init; }
    /// <summary>Whether members may reach the host's own addresses (always for the <c>default</c> project's networks).</summary>
    public bool HostAccess { get; init; }
    public bool Default { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public IReadOnlyList<NetworkMemberInfo> Members { get; init; } = [];
}

/// <summary>An instance attached to a network.</summary>
public sealed record NetworkMemberInfo
{
    public required string Instance { get; init; }
    public required string Project { get; init; }
    public required string Address { get; init; }
    public IReadOnlyList<PortSpec> Ports { get; init; } = [];
    /// <summary>More names the instance is reached by on this network.</summary>
    public IReadOnlyList<string> Aliases { get; init; } = [];
    /// <summary>Set when the instance joined after create (<c>strata network connect</c>): its interface (<c>eth1</c> …).</summary>
    public string? Interface { get; init; }
}

/// <summary>Body of <c>POST /v1/instances/{name}/networks</c>: join another network of the project.</summary>
public sealed record ConnectNetworkRequest
{
    public required string Network { get; init; }
    /// <summary>More names the members of that network reach the instance by (DNS labels).</summary>
    public IReadOnlyList<string>? Aliases { get; init; }
}

public sealed record NetworkList(IReadOnlyList<NetworkInfo> Items);
