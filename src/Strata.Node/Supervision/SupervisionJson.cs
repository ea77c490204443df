using System.Text.Json.Serialization;

namespace Strata.Node.Supervision;

/// <summary>The supervisor's one-line answer on stdout after it has started (or failed to start) the workload.</summary>
internal sealed record HandshakeLine
{
    public bool Ok { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Pid { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? PidStartTicks { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Error { get; init; }

    /// <summary>Set when the workload could not be executed: 127 (not found) or 126 (any other reason).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? ExitCode { get; init; }
}

/// <summary>The exit file as stored on disk (<see cref="ExitFile"/>).</summary>
internal sealed record ExitFileRecord
{
    public int Version { get; init; } = 1;
    public int ExitCode { get; init; }
    public string? Reason { get; init; }
    /// <summary>UTC, written with a trailing Z.</summary>
    public DateTime FinishedAt { get; init; }
    public bool OomKilled { get; init; }
    public bool Failed { get; init; }
}

/// <summary>Source-generated (reflection-free, NativeAOT-safe) JSON for everything the supervisor reads or writes.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = false)]
[JsonSerializable(typeof(SupervisorConfig))]
[JsonSerializable(typeof(HandshakeLine))]
[JsonSerializable(typeof(ExitFileRecord))]
internal sealed partial class SupervisionJsonContext : JsonSerializerContext;
