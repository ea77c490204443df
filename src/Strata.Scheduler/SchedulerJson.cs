using System.Text.Json;
using System.Text.Json.Serialization;

namespace Strata.Scheduler;

/// <summary>
/// The JSON shape of placement explanations (stored with a placement, shown by <c>strata inspect</c>): camelCase,
/// nulls omitted, unknown members rejected. Source-generated, like the contracts' context, for NativeAOT.
/// </summary>
[JsonSourceGenerationOptions(
    JsonSerializerDefaults.Web,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    WriteIndented = false)]
[JsonSerializable(typeof(PlacementExplanation))]
[JsonSerializable(typeof(List<PlacementExplanation>))]
[JsonSerializable(typeof(Rebalancing.RebalanceDecision))]
[JsonSerializable(typeof(Rebalancing.RebalanceOutcome))]
[JsonSerializable(typeof(Rebalancing.RebalanceState))]
public sealed partial class SchedulerJson : JsonSerializerContext;
