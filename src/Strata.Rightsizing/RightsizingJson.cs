using System.Text.Json;
using System.Text.Json.Serialization;
using Strata.Rightsizing.Policy;

namespace Strata.Rightsizing;

/// <summary>
/// The JSON shape of recommendations (<c>strata recommend --json</c>), stored histories and policy state: camelCase,
/// enums as numbers (frozen), unknown members rejected. Source-generated for NativeAOT.
/// </summary>
[JsonSourceGenerationOptions(
    JsonSerializerDefaults.Web,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    WriteIndented = false)]
[JsonSerializable(typeof(Recommendation))]
[JsonSerializable(typeof(List<Recommendation>))]
[JsonSerializable(typeof(UsageHistoryState))]
[JsonSerializable(typeof(RightsizeState))]
[JsonSerializable(typeof(RightsizeDecision))]
public sealed partial class RightsizingJson : JsonSerializerContext;
