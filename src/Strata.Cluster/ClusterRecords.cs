using System.Text.Json;
using System.Text.Json.Serialization;
using Strata.Contracts;
using Strata.Scheduler;

namespace Strata.Cluster;

/// <summary>cpu millicores, memory, disk, pids: the scheduler's <see cref="Resources"/> in a JSON shape.</summary>
public sealed record ResourceAmounts(long CpuMillis, long MemoryBytes, long DiskBytes = 0, long Pids = 0)
{
    public static ResourceAmounts From(Resources r) => new(r.CpuMillis, r.MemoryBytes, r.DiskBytes, r.Pids);

    /// <summary>
    /// What placement takes from a node for an instance with these limits: its CPUs and memory, or 0.1 CPU and 64 MiB
    /// when the spec names none (what such an instance is assumed to need), its disk and pids.
    /// </summary>
    public static ResourceAmounts ForLimits(ResourceSpec? limits) => new(
        (long)Math.Round((limits?.Cpus ?? 0.1) * 1000),
        limits?.MemoryBytes ?? 64L << 20,
        limits?.DiskBytes ?? 0,
        limits?.Pids ?? 0);

    public Resources ToResources() => new(CpuMillis, MemoryBytes, DiskBytes, Pids);
}

/// <summary>A tier a node offers and the version of its engine (e.g. <c>runc 1.1.5</c>).</summary>
public sealed record TierOffer(string Tier, string? Engine = null);

/// <summary>
/// A node as it registers itself (<c>nodes/NODE</c>, under its lease). <see cref="Free"/> is kept by the scheduler
/// leader in the same transaction as each placement, fenced on this record's mod revision.
/// </summary>
public sealed record NodeRecord
{
    public required string Name { get; init; }
    /// <summary>Where other nodes reach its API (<c>--advertise ADDR:PORT</c>).</summary>
    public required string Address { get; init; }
    /// <summary>The node's API speaks HTTPS (<c>--tls-cert</c>); other nodes then pin <see cref="CertificateSha256"/>.</summary>
    public bool Tls { get; init; }
    /// <summary>SHA-256 (hex) of the node's TLS certificate: what a node forwarding a request to it accepts, and only that.</summary>
    public string? CertificateSha256 { get; init; }

    /// <summary>
    /// The pin another node checks this node's certificate against: null for a plain node; a TLS node whose record
    /// pins nothing cannot be reached safely, so that is a 503 until it registers again.
    /// </summary>
    public string? RequirePin() => !Tls ? null
        : CertificateSha256 is { Length: > 0 } pin ? pin
        : throw new StrataException(ErrorKind.Unavailable, $"node {Name} speaks TLS but its record pins no certificate; restart it so it registers again");

    public required ResourceAmounts Capacity { get; init; }
    public required ResourceAmounts Free { get; init; }
    public IReadOnlyList<TierOffer> Tiers { get; init; } = [];
    public string Arch { get; init; } = "x86_64";
    public string? Accelerator { get; init; }
    /// <summary>The host CPU and the QEMU models it runs under KVM: what the cluster's CPU baseline is computed over.</summary>
    public NodeCpu? Cpu { get; init; }
    public DateTimeOffset Joined { get; init; }
    public long Lease { get; init; }
}

/// <summary>What operators set on a node (<c>nodeconf/NODE</c>): labels and drain. Survives the node going offline.</summary>
public sealed record NodeSettings
{
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();
    public bool Draining { get; init; }
    /// <summary>When the node was last seen going offline; null while it is online.</summary>
    public DateTimeOffset? OfflineSince { get; init; }
}

/// <summary>An instance the cluster must run (<c>pending/…</c> before placement, <c>instances/…</c> after).</summary>
public sealed record DesiredInstance
{
    public required string Project { get; init; }
    public required string Name { get; init; }
    public required string Tier { get; init; }
    public required ResourceAmounts Resources { get; init; }
    /// <summary>The instance spec as the API took it (JSON), run unchanged by the node's own instance service.</summary>
    public string? Spec { get; init; }
    /// <summary><c>always</c> makes an instance replaceable on another node (when also stateless).</summary>
    public string? Restart { get; init; }
    /// <summary>No local state (no volumes, not a vm or sandbox with its disk): it may be started afresh elsewhere.</summary>
    public bool Stateless { get; init; }
    public string? PinnedNode { get; init; }
    public IReadOnlyList<string> Constraints { get; init; } = [];
    public string? AntiAffinityGroup { get; init; }
    public bool AntiAffinityHard { get; init; }
    /// <summary>The node running it; null while pending or when no node could take it (<see cref="Error"/>).</summary>
    public string? Node { get; init; }
    /// <summary>Bumped on every placement: a node running an older generation runs a stale copy and stops it.</summary>
    public long Generation { get; init; }
    /// <summary>Why this node: the scheduler's explanation, with each plugin's score and the rejections.</summary>
    public PlacementExplanation? Why { get; init; }
    public string? Error { get; init; }
    public DateTimeOffset Created { get; init; }
    public DateTimeOffset? Placed { get; init; }
    /// <summary>Times the instance was placed again after its node was lost.</summary>
    public int Replacements { get; init; }

    public bool Replaceable => Stateless && string.Equals(Restart, "always", StringComparison.Ordinal);
}

/// <summary>What a node must run (<c>assign/NODE/PROJECT/NAME</c>): the generation and what it holds.</summary>
public sealed record Assignment(long Generation, ResourceAmounts Resources, string? AntiAffinityGroup = null);

/// <summary>The state a node reports for its own copy of an instance (<c>state/NODE/…</c>, under the node's lease).</summary>
public sealed record InstanceReport(string State, long Generation, DateTimeOffset At, string? Error = null);

/// <summary>
/// A project in the cluster (<c>projects/P</c>): its quota, restrictions and placement rules, as
/// <c>strata project</c> sets them on any node. <see cref="AllowedTiers"/> repeats the restrictions' list for the
/// scheduler's project filter.
/// </summary>
public sealed record ClusterProject
{
    public required string Name { get; init; }
    public string? Description { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public ProjectQuota? Quota { get; init; }
    public ProjectRestrictions? Restrictions { get; init; }
    public IReadOnlyList<string>? AllowedTiers { get; init; }
    public IReadOnlyList<string>? AllowedNodes { get; init; }
}

/// <summary>A project token (<c>tokens/ID</c>), kept as the SHA-256 of the whole token only: its project and role.</summary>
public sealed record ClusterToken
{
    public required string Id { get; init; }
    public required string Project { get; init; }
    public required string Role { get; init; }
    /// <summary>Lower-case hex SHA-256 of the whole bearer token.</summary>
    public required string Hash { get; init; }
    public string? Description { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
}

/// <summary>
/// A move in progress (<c>move/PROJECT/NAME</c>, under the source node's lease): both node agents leave that
/// instance alone while it exists. The switch moves the assignment and deletes it in one transaction; if the
/// source dies the key lapses with its lease and the assignment is still the source's.
/// </summary>
public sealed record MoveMarker(string Source, string Target, string? Operation = null);

/// <summary>
/// One instance's predicted use as its node publishes it (<see cref="NodeLoadReport"/>): what its assignment
/// reserves, what its recommendation predicts (the targets, from its usage history), and the forecast's peak
/// when there is one.
/// </summary>
public sealed record PredictedUse(string Project, string Name, ResourceAmounts Requested, ResourceAmounts Predicted, ResourceAmounts? Forecast = null);

/// <summary>
/// A node's predicted load (<c>load/NODE</c>, under the node's lease): its assigned instances that have a usage
/// history, each with its prediction. Instances not listed are predicted at their limits.
/// </summary>
public sealed record NodeLoadReport(DateTimeOffset At, IReadOnlyList<PredictedUse> Instances);

/// <summary>A cluster event (a node offline, replacements frozen, …), kept an hour.</summary>
public sealed record ClusterEvent(string Kind, string Message, DateTimeOffset At);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(NodeRecord))]
[JsonSerializable(typeof(NodeSettings))]
[JsonSerializable(typeof(DesiredInstance))]
[JsonSerializable(typeof(Assignment))]
[JsonSerializable(typeof(InstanceReport))]
[JsonSerializable(typeof(ClusterProject))]
[JsonSerializable(typeof(ProjectUsage))]
[JsonSerializable(typeof(ClusterToken))]
[JsonSerializable(typeof(ClusterEvent))]
[JsonSerializable(typeof(MoveMarker))]
[JsonSerializable(typeof(NodeLoadReport))]
public sealed partial class ClusterJson : JsonSerializerContext;
