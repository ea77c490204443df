using System.Text.Json;
using System.Text.Json.Serialization;
using Strata.Cluster;

namespace Strata.Daemon.Cluster;

/// <summary>A node as <c>strata node ls / inspect</c> show it.</summary>
public sealed record ClusterNodeInfo
{
    public required string Name { get; init; }
    /// <summary><c>online</c>, <c>draining</c> or <c>offline</c>.</summary>
    public required string Status { get; init; }
    public string? Address { get; init; }
    public ResourceAmounts? Capacity { get; init; }
    public ResourceAmounts? Free { get; init; }
    public IReadOnlyList<TierOffer> Tiers { get; init; } = [];
    public string? Arch { get; init; }
    /// <summary>The node's CPU, accelerator and the QEMU models it runs (docs/cluster.md "CPU baseline").</summary>
    public NodeCpu? Cpu { get; init; }
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();
    public DateTimeOffset? OfflineSince { get; init; }
    public int Instances { get; init; }
    public bool Leader { get; init; }
}

/// <summary><c>strata cluster status</c>: the nodes, the scheduler leader, etcd, replacements and recent events.</summary>
public sealed record ClusterStatus
{
    public required string Node { get; init; }
    public string? Leader { get; init; }
    public required IReadOnlyList<string> Etcd { get; init; }
    public required IReadOnlyList<ClusterNodeInfo> Nodes { get; init; }
    public bool ReplacementsFrozen { get; init; }
    /// <summary>The CPU model guests on the online KVM nodes start with, and over which nodes (docs/cluster.md "CPU baseline").</summary>
    public ClusterCpuBaseline? CpuBaseline { get; init; }
    public IReadOnlyList<ClusterEvent> Events { get; init; } = [];
}

/// <summary>Body of <c>POST /v1/cluster/nodes/{name}/labels</c>: labels to set (a null value removes one).</summary>
public sealed record NodeLabelRequest(IReadOnlyDictionary<string, string?> Labels);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ClusterNodeInfo))]
[JsonSerializable(typeof(List<ClusterNodeInfo>))]
[JsonSerializable(typeof(ClusterStatus))]
[JsonSerializable(typeof(NodeLabelRequest))]
[JsonSerializable(typeof(DrainResult))]
public sealed partial class ClusterApiJson : JsonSerializerContext;
