using System.Text.Json;
using System.Text.Json.Serialization;
using Strata.Contracts.Drivers;

namespace Strata.Contracts;

/// <summary>
/// The requests a client sends, written through the source generator's fast path only. Writing with
/// <see cref="StrataJsonContext"/> first builds run-time metadata for every type a request can hold (the whole
/// <see cref="InstanceSpec"/> graph), which in a fresh NativeAOT process (one <c>strata run</c>) took about half of
/// the CLI's own CPU time. The fast path writes the same bytes without it; the options match
/// <see cref="StrataJsonContext"/>'s (a test compares the output of both).
/// </summary>
[JsonSourceGenerationOptions(
    JsonSerializerDefaults.Web,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    WriteIndented = false,
    GenerationMode = JsonSourceGenerationMode.Serialization)]
[JsonSerializable(typeof(CreateInstanceRequest))]
[JsonSerializable(typeof(ExecRequest))]
[JsonSerializable(typeof(MoveRequest))]
[JsonSerializable(typeof(IncomingMoveRequest))]
public partial class StrataRequestJsonContext : JsonSerializerContext;
