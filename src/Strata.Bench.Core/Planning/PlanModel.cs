using System.Text.Json;
using System.Text.Json.Serialization;

namespace Strata.Bench.Core.Planning;

/// <summary>
/// One number the plan used, and where it came from: measured (and where: the bench run, an instance's usage
/// history, the file) or assumed (and the value assumed). <c>strata plan</c> lists them all.
/// </summary>
public sealed record PlanFigure(string Name, double Value, string Text, bool Measured, string Source);

/// <summary>What running one instance on a tier costs on this host: memory of an idle instance, CPU factor, start time.</summary>
public sealed record TierCostFigures(string Tier, PlanFigure MemoryOverheadBytes, PlanFigure CpuFactor, PlanFigure StartMs);

/// <summary>One workload of the file: the tier the advisor picks, and what it needs (each with its source).</summary>
public sealed record PlanWorkload
{
    public required string Name { get; init; }
    public string? Project { get; init; }
    /// <summary>The advisor's tier on this host; when it found none, <c>vm</c> (see <see cref="TierNote"/>).</summary>
    public required string Tier { get; init; }
    public string? TierNote { get; init; }
    /// <summary>What it uses: the recommendation where a usage history exists, else the declared limit, else assumed.</summary>
    public required PlanFigure Cpu { get; init; }
    public required PlanFigure MemoryBytes { get; init; }
    /// <summary>What a VM of it would be given: the declared limits, else <see cref="Cpu"/> and <see cref="MemoryBytes"/>.</summary>
    public required double SizeCpu { get; init; }
    public required long SizeMemoryBytes { get; init; }
}

/// <summary>Everything <see cref="CapacityPlanner.Plan"/> needs; built by <see cref="PlanInputs"/> from the daemon's answers.</summary>
public sealed record PlanRequest
{
    public required string File { get; init; }
    public required IReadOnlyList<PlanWorkload> Workloads { get; init; }
    public required PlanFigure HostCpus { get; init; }
    public required PlanFigure HostMemoryBytes { get; init; }
    /// <summary><c>--hosts N</c>: the plan also says whether each model fits in N hosts.</summary>
    public int? Hosts { get; init; }
    public required IReadOnlyDictionary<string, TierCostFigures> Costs { get; init; }
    public IReadOnlyList<string> Notes { get; init; } = [];
}

/// <summary>The answer: one <see cref="ModelResult"/> per deployment model, and every figure used.</summary>
public sealed record PlanReport
{
    public const int CurrentVersion = 1;
    public int Version { get; init; } = CurrentVersion;
    public required string File { get; init; }
    public required double HostCpus { get; init; }
    public required long HostMemoryBytes { get; init; }
    public int? Hosts { get; init; }
    public required IReadOnlyList<ModelResult> Models { get; init; }
    public required IReadOnlyList<PlanWorkload> Workloads { get; init; }
    /// <summary>Every number used, measured or assumed: host size and per-tier costs.</summary>
    public required IReadOnlyList<PlanFigure> Figures { get; init; }
    public IReadOnlyList<string> Notes { get; init; } = [];
}

/// <summary>One deployment model of the article: how many hosts, how full, what the isolation costs.</summary>
public sealed record ModelResult
{
    /// <summary><c>physical</c>, <c>vm</c>, <c>containers</c>, <c>containers-in-vms</c>, <c>hybrid</c>.</summary>
    public required string Model { get; init; }
    public required string Title { get; init; }
    /// <summary>How the model places and charges workloads, in a sentence.</summary>
    public required string How { get; init; }
    public required int HostsNeeded { get; init; }
    /// <summary>No packing can do with fewer hosts than this (total demand over host size), for the packed models.</summary>
    public int? LowerBound { get; init; }
    /// <summary>With <c>--hosts N</c>: whether the model fits in N hosts; otherwise null.</summary>
    public bool? Fits { get; init; }
    /// <summary>The workloads' own use over the capacity of the hosts needed (0–1).</summary>
    public required double CpuUtilisation { get; init; }
    public required double MemoryUtilisation { get; init; }
    /// <summary>What is reserved (use, isolation overhead, whole vCPUs, declared VM sizes) over that capacity (0–1).</summary>
    public required double CpuAllocated { get; init; }
    public required double MemoryAllocated { get; init; }
    /// <summary>Memory the isolation itself takes (idle instances, guests, node VMs).</summary>
    public required long OverheadMemoryBytes { get; init; }
    /// <summary>The slowest start of a workload in this model, and which tier it is.</summary>
    public required double StartMs { get; init; }
    public required string StartTier { get; init; }
    public required bool StartMeasured { get; init; }
    /// <summary>Which tier each workload runs on in this model.</summary>
    public required IReadOnlyDictionary<string, string> Tiers { get; init; }
    /// <summary>Per host: the workloads on it and what they take.</summary>
    public required IReadOnlyList<PlannedHost> HostList { get; init; }
    /// <summary>Workloads that fit on no host of this size, with why.</summary>
    public IReadOnlyList<string> Unplaced { get; init; } = [];
}

public sealed record PlannedHost(int Index, IReadOnlyList<string> Workloads, double CpuAllocated, long MemoryAllocatedBytes);

/// <summary>Source-generated JSON for plans (the CLI is NativeAOT): camelCase, nulls omitted, indented.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, WriteIndented = true)]
[JsonSerializable(typeof(PlanReport))]
public sealed partial class PlanJsonContext : JsonSerializerContext;
