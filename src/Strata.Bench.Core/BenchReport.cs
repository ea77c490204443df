using System.Text.Json;
using System.Text.Json.Serialization;

namespace Strata.Bench.Core;

/// <summary>
/// The result of one <c>strata bench</c> run: what was measured, on which machine, and how. Persisted as
/// <c>&lt;root&gt;/bench/results.json</c> (version <see cref="CurrentVersion"/>); <see cref="Tiers"/> is the part the
/// daemon's advisor reads (median start latency per tier).
/// </summary>
public sealed record BenchReport
{
    public const int CurrentVersion = 1;

    public int Version { get; init; } = CurrentVersion;
    public required DateTimeOffset Time { get; init; }
    public bool Quick { get; init; }
    public double DurationSeconds { get; init; }
    public required MachineDescription Machine { get; init; }
    /// <summary>Every tier and baseline, in the order they ran; unavailable ones carry <see cref="TargetResult.Skipped"/>.</summary>
    public required IReadOnlyList<TargetResult> Targets { get; init; }
    /// <summary>Per user tier: <c>startMedianMs</c> (request to first output) and a detail, for the advisor.</summary>
    public required IReadOnlyDictionary<string, TierCostEntry> Tiers { get; init; }
    public IReadOnlyList<string> Notes { get; init; } = [];

    public TargetResult? Find(string name) => Targets.FirstOrDefault(t => t.Name == name);
}

/// <summary>The shape <c>HostCosts</c> reads: <c>{ "startMedianMs": 48.2, "detail": "runc" }</c>.</summary>
public sealed record TierCostEntry(double StartMedianMs, string? Detail);

/// <summary>The machine a report was measured on: every report carries it, because numbers mean nothing without it.</summary>
public sealed record MachineDescription
{
    public int Cpus { get; init; }
    public long MemoryBytes { get; init; }
    public string Kernel { get; init; } = "";
    public string Arch { get; init; } = "";
    public string Cgroups { get; init; } = "";
    /// <summary><c>KVM</c>, <c>TCG</c> or <c>unknown</c>: how the sandbox and vm tiers run their guests here.</summary>
    public string Accelerator { get; init; } = "unknown";
    public string? AcceleratorNote { get; init; }
    /// <summary>/proc/loadavg when the run started and when it ended: other work inflates absolute times.</summary>
    public string? LoadAtStart { get; init; }
    public string? LoadAtEnd { get; init; }
    public string? StrataVersion { get; init; }
    /// <summary>Versions of the engines and baselines found (runc, crun, qemu, podman, wasmtime, busybox).</summary>
    public IReadOnlyDictionary<string, string> Versions { get; init; } = new Dictionary<string, string>();
}

/// <summary>One tier (through Strata) or one baseline (the tool people would otherwise use).</summary>
public sealed record TargetResult
{
    /// <summary>A tier name (<c>container</c>) or a baseline (<c>direct</c>, <c>podman</c>, <c>runc</c>, <c>qemu</c>).</summary>
    public required string Name { get; init; }
    /// <summary><c>tier</c> or <c>baseline</c>.</summary>
    public required string Kind { get; init; }
    /// <summary>What exactly ran, e.g. <c>podman run --rm --runtime runc</c>.</summary>
    public required string Label { get; init; }
    /// <summary>For a tier, the baseline it is compared with (its ratio is tier / baseline).</summary>
    public string? Baseline { get; init; }
    public string? Engine { get; init; }
    /// <summary>Why this target was not measured (not installed, not available here, ...).</summary>
    public string? Skipped { get; init; }
    /// <summary>Request to the first byte of the workload's output.</summary>
    public LatencyStats? FirstOutput { get; init; }
    /// <summary>Request to the workload's exit (as the caller sees it).</summary>
    public LatencyStats? Exit { get; init; }
    public MemoryResult? Memory { get; init; }
    public SizeResult? Size { get; init; }
    public DensityResult? Density { get; init; }
    public CpuResult? Cpu { get; init; }
    public SnapshotResult? Snapshot { get; init; }
    public IReadOnlyList<string> Errors { get; init; } = [];
}

/// <summary>Private memory (PSS) of one idle instance: supervisor + engine (+ guest), or why it was not measured.</summary>
public sealed record MemoryResult(long? Bytes, string What, string? Note = null);

public sealed record SizeResult(long? Bytes, string What, string? Note = null);

/// <summary>
/// How many idle instances fit in <see cref="BudgetBytes"/>: <see cref="Started"/> were really started and
/// measured, <see cref="Fits"/> is extrapolated from their mean PSS (always labelled as such).
/// </summary>
public sealed record DensityResult(int Started, long BudgetBytes, long? PerInstanceBytes, long? Fits, string? Note = null)
{
    public bool Extrapolated => true;
}

/// <summary>A CPU-bound kernel timed inside the workload; <see cref="RatioToProcess"/> is this tier / process tier.</summary>
public sealed record CpuResult(double? KernelMs, double? RatioToProcess, string Kernel, string? Note = null);

public sealed record SnapshotResult(double? CreateMs, double? RestoreMs, string? Kind, string? Note = null);

/// <summary>Source-generated JSON for reports (the CLI is NativeAOT): camelCase, nulls omitted, indented.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, WriteIndented = true)]
[JsonSerializable(typeof(BenchReport))]
public sealed partial class BenchJsonContext : JsonSerializerContext;
