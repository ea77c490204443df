using System.Text.Json;
using System.Text.Json.Serialization;
using Strata.Contracts.Drivers;

namespace Strata.Contracts;

/// <summary>
/// The one JSON shape of everything Strata sends, stores or reads: camelCase, nulls omitted,
/// unknown members rejected (so a typo in a request is a 400 naming the field, never silently ignored).
/// Source-generated so the NativeAOT CLI and supervisor can use it.
/// </summary>
[JsonSourceGenerationOptions(
    JsonSerializerDefaults.Web,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    WriteIndented = false)]
[JsonSerializable(typeof(InstanceSpec))]
[JsonSerializable(typeof(InstanceInfo))]
[JsonSerializable(typeof(InstanceList))]
[JsonSerializable(typeof(WaitResult))]
[JsonSerializable(typeof(LogRecord))]
[JsonSerializable(typeof(StreamFrame))]
[JsonSerializable(typeof(DaemonInfo))]
[JsonSerializable(typeof(InstanceEvent))]
[JsonSerializable(typeof(ProblemDetails))]
[JsonSerializable(typeof(DriverHandle))]
[JsonSerializable(typeof(ExitStatus))]
[JsonSerializable(typeof(CreateInstanceRequest))]
[JsonSerializable(typeof(SnapshotInfo))]
[JsonSerializable(typeof(ResizeRequest))]
[JsonSerializable(typeof(ResizeResponse))]
[JsonSerializable(typeof(SnapshotList))]
[JsonSerializable(typeof(CreateSnapshotRequest))]
[JsonSerializable(typeof(ExecRequest))]
[JsonSerializable(typeof(InstanceStats))]
[JsonSerializable(typeof(List<InstanceStats>))]
[JsonSerializable(typeof(ProcessList))]
[JsonSerializable(typeof(InstanceRecommendation))]
[JsonSerializable(typeof(RecommendationList))]
[JsonSerializable(typeof(UsageHistoryView))]
[JsonSerializable(typeof(ApplyRecommendationResponse))]
[JsonSerializable(typeof(RightsizeStatus))]
[JsonSerializable(typeof(RightsizeSetting))]
[JsonSerializable(typeof(Dictionary<string, string>))]
[JsonSerializable(typeof(JsonElement))]
[JsonSerializable(typeof(ImageSummary))]
[JsonSerializable(typeof(ImageList))]
[JsonSerializable(typeof(ImageDetail))]
[JsonSerializable(typeof(PullImageRequest))]
[JsonSerializable(typeof(BuildBaseImageRequest))]
[JsonSerializable(typeof(TagImageRequest))]
[JsonSerializable(typeof(RemovedImages))]
[JsonSerializable(typeof(PruneImagesResult))]
[JsonSerializable(typeof(OperationInfo))]
[JsonSerializable(typeof(OperationList))]
[JsonSerializable(typeof(OperationEvent))]
[JsonSerializable(typeof(Placement))]
[JsonSerializable(typeof(AdviseRequest))]
[JsonSerializable(typeof(AdviseResponse))]
[JsonSerializable(typeof(ApplyRequest))]
[JsonSerializable(typeof(ApplyResponse))]
[JsonSerializable(typeof(ProjectQuota))]
[JsonSerializable(typeof(ProjectRestrictions))]
[JsonSerializable(typeof(ProjectInfo))]
[JsonSerializable(typeof(ProjectList))]
[JsonSerializable(typeof(CreateProjectRequest))]
[JsonSerializable(typeof(TokenInfo))]
[JsonSerializable(typeof(TokenList))]
[JsonSerializable(typeof(CreateTokenRequest))]
[JsonSerializable(typeof(CreateNetworkRequest))]
[JsonSerializable(typeof(ConnectNetworkRequest))]
[JsonSerializable(typeof(NetworkInfo))]
[JsonSerializable(typeof(NetworkList))]
[JsonSerializable(typeof(PortSpec))]
[JsonSerializable(typeof(MoveResult))]
[JsonSerializable(typeof(VolumeArrival))]
[JsonSerializable(typeof(IncomingMoveInfo))]
[JsonSerializable(typeof(MoveRequest))]
[JsonSerializable(typeof(IncomingMoveRequest))]
public sealed partial class StrataJsonContext : JsonSerializerContext;

/// <summary>Body of <c>POST /v1/instances</c>: the spec plus what to do with it.</summary>
public sealed record CreateInstanceRequest
{
    public required InstanceSpec Spec { get; init; }
    /// <summary>Start the instance right after creating it (the <c>run</c> verb). Default true.</summary>
    public bool Start { get; init; } = true;
}

/// <summary>Body of <c>POST /v1/instances/{name}/snapshots</c>.</summary>
public sealed record CreateSnapshotRequest
{
    /// <summary>DNS label; generated from the time when omitted.</summary>
    public string? Name { get; init; }
}

/// <summary>One snapshot of an instance.</summary>
public sealed record SnapshotInfo
{
    public required string Name { get; init; }
    public required string Instance { get; init; }
    /// <summary><c>memory</c>, <c>filesystem</c> or <c>stateful</c>.</summary>
    public required string Kind { get; init; }
    public long SizeBytes { get; init; }
    public string? Description { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
}

public sealed record SnapshotList(IReadOnlyList<SnapshotInfo> Items);

/// <summary>Body of <c>POST /v1/instances/{name}/resize</c>: what to change (null = unchanged).</summary>
public sealed record ResizeRequest
{
    public long? MemoryBytes { get; init; }
    /// <summary>Cores: fractions (to a hundredth) for the container and process tiers, whole vCPUs for vm and sandbox.</summary>
    public double? Cpus { get; init; }
}

/// <summary>What a resized instance has now, and the most it can have.</summary>
public sealed record ResizeResponse
{
    public long MemoryBytes { get; init; }
    public long MaxMemoryBytes { get; init; }
    public double Cpus { get; init; }
    public double MaxCpus { get; init; }
    public string? Note { get; init; }
}
