using System.Text.Json;
using System.Text.Json.Serialization;
using Strata.Contracts;

namespace Strata.Node.Networking;

/// <summary>
/// <c>networks.json</c>: every network of this node and who is attached to it. Networks are node-local
/// resources (a bridge, iptables rules, IPAM leases on this host), so they live beside the leases under the
/// data root rather than in the shared state store; the file is written atomically (temp + rename).
/// </summary>
internal sealed record NetworkState
{
    public const int CurrentVersion = 1;

    public int Version { get; init; } = CurrentVersion;

    public List<NetworkRecord> Networks { get; init; } = [];
}

internal sealed record NetworkRecord
{
    public required string Name { get; init; }
    public string? Project { get; init; }
    public required string Subnet { get; init; }
    public required string Bridge { get; init; }
    public bool Internal { get; init; }
    /// <summary>Set by a host administrator: members of a tenant project's network may reach the host's own addresses.</summary>
    public bool AllowHost { get; init; }
    public bool Default { get; init; }
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>
    /// The network's name towards CNI (its IPAM lease directory <c>ipam/&lt;name&gt;</c>, the plugins' rule names), unique
    /// on the host while <see cref="Name"/> is unique per project only. Absent in records written before names were
    /// per project: <see cref="Name"/> was unique then and stays the key.
    /// </summary>
    public string? CniName { get; init; }

    [JsonIgnore]
    public string Key => CniName ?? Name;

    public List<MemberRecord> Members { get; init; } = [];
}

internal sealed record MemberRecord
{
    public required string InstanceId { get; init; }
    public required string Name { get; init; }
    public required string Project { get; init; }
    public required string Address { get; init; }
    public required string Namespace { get; init; }
    public string? HostsFile { get; init; }
    /// <summary>Set for a VM member: its tap device on the bridge (it has no namespace; <see cref="Namespace"/> is empty).</summary>
    public string? Tap { get; init; }
    /// <summary>A tap member's NIC MAC when it is not the one derived from its address (a guest moved live keeps its NIC's).</summary>
    public string? Mac { get; init; }
    public List<PortSpec> Ports { get; init; } = [];
    /// <summary>More names the member is reached by (its spec's networkAliases).</summary>
    public List<string> Aliases { get; init; } = [];
    /// <summary>
    /// Set for a network joined after create (<c>strata network connect</c>): the member's extra interface in the
    /// namespace of its first network (<c>eth1</c>, <c>eth2</c> …). Null for the network it was created on (<c>eth0</c>,
    /// which owns the namespace, the published ports and the hosts file).
    /// </summary>
    public string? Interface { get; init; }
    /// <summary>The CNI result of ADD, handed back to the plugins as prevResult on DEL (the firewall plugin needs it).</summary>
    public string? CniResult { get; init; }
}

/// <summary>The parts of a CNI 1.0 result Strata reads.</summary>
internal sealed record CniResult
{
    public List<CniInterface> Interfaces { get; init; } = [];
    public List<CniIp> Ips { get; init; } = [];
}

internal sealed record CniInterface(string Name, string? Mac, string? Sandbox);

internal sealed record CniIp(string Address, string? Gateway, int? Interface);

/// <summary>A CNI error (printed on stdout with a non-zero exit).</summary>
internal sealed record CniError(int Code, string? Msg, string? Details);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, WriteIndented = true)]
[JsonSerializable(typeof(NetworkState))]
[JsonSerializable(typeof(CniResult))]
[JsonSerializable(typeof(CniError))]
internal sealed partial class NetworkJsonContext : JsonSerializerContext;
