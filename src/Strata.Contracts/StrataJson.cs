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
[JsonSerializable(typeof(ExecRequest))]
[JsonSerializable(typeof(InstanceStats))]
[JsonSerializable(typeof(List<InstanceStats>))]
[JsonSerializable(typeof(ProcessList))]
[JsonSerializable(typeof(SnapshotInfo))]
[JsonSerializable(typeof(Dictionary<string, string>))]
[JsonSerializable(typeof(JsonElement))]
public sealed partial class StrataJsonContext : JsonSerializerContext;

/// <summary>Body of <c>POST /v1/instances</c>: the spec plus what to do with it.</summary>
public sealed record CreateInstanceRequest
{
    public required InstanceSpec Spec { get; init; }
    /// <summary>Start the instance right after creating it (the <c>run</c> verb). Default true.</summary>
    public bool Start { get; init; } = true;
}
