using System.Globalization;
using Strata.Contracts;

namespace Strata.Bench.Core.Planning;

/// <summary>
/// Builds a <see cref="PlanRequest"/> from what the daemon answers: the advice for each workload of the file (its tier
/// and declared resources), the usage histories' recommendations of the caller's project, and the stored
/// <c>strata bench</c> report. Each number keeps its source; anything the host has not measured is an assumption
/// with its value (<see cref="Assumed"/>). Pure.
/// </summary>
public static class PlanInputs
{
    /// <summary>The tiers the plan prices.</summary>
    public static readonly IReadOnlyList<string> Tiers = ["process", "container", "wasm", "sandbox", "vm"];

    /// <summary>A workload with no history and no declared CPU is assumed to use this much.</summary>
    public const double DefaultCpu = 0.5;
    public const long DefaultMemoryBytes = 256L << 20;

    /// <summary>The CPU factor assumed for hardware virtualization (the article's "&lt; 5 %").</summary>
    public const double AssumedVirtualizationFactor = 1.05;

    /// <summary>
    /// Values assumed when the host has no bench result for a tier: memory per idle instance from docs/bench.md's quiet
    /// quick run (wasm is never measured: its instances live inside the daemon), the advisor's documented start classes.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, (long Memory, double Cpu, double StartMs)> Assumed = new Dictionary<string, (long, double, double)>
    {
        ["process"] = ((long)(3.4 * (1 << 20)), 1.0, 1),
        ["container"] = ((long)(8.2 * (1 << 20)), 1.0, 50),
        ["wasm"] = (2L << 20, 1.0, 1),
        ["sandbox"] = ((long)(234.5 * (1 << 20)), AssumedVirtualizationFactor, 4000),
        ["vm"] = ((long)(237.7 * (1 << 20)), AssumedVirtualizationFactor, 4000),
    };

    /// <summary>Per-tier costs: measured where <paramref name="bench"/> has them, assumed (with the value) where not.</summary>
    public static IReadOnlyDictionary<string, TierCostFigures> Costs(BenchReport? bench)
    {
        var costs = new Dictionary<string, TierCostFigures>(StringComparer.Ordinal);
        var run = bench is null ? null : $"strata bench {bench.Time.UtcDateTime:yyyy-MM-dd HH:mm} UTC{(bench.Quick ? ", quick" : "")}";
        var tcg = bench?.Machine.Accelerator == "TCG";
        foreach (var tier in Tiers)
        {
            var assumed = Assumed[tier];
            var target = bench?.Targets.FirstOrDefault(t => t.Name == tier && t.Kind == "tier" && t.Skipped is null);
            var memory = target?.Memory?.Bytes is { } m and > 0
                ? new PlanFigure($"{tier} memory per idle instance", m, BenchTables.Bytes(m), true, $"{run}: PSS of an idle instance ({target.Memory.What})")
                : new PlanFigure($"{tier} memory per idle instance", assumed.Memory, BenchTables.Bytes(assumed.Memory), false,
                    tier == "wasm" ? "assumed: strata bench does not measure wasm (its instances live inside the daemon)" : $"assumed: {(bench is null ? "no strata bench results on this host" : "not in this host's bench results")}; docs/bench.md's quiet quick run");
            PlanFigure cpu;
            if (target?.Cpu?.RatioToProcess is { } ratio and > 0 && !(tcg && tier is "sandbox" or "vm"))
            {
                cpu = new PlanFigure($"{tier} CPU factor", ratio, Inv($"{ratio:0.00}x"), true, $"{run}: a CPU-bound kernel's time relative to the process tier");
            }
            else
            {
                var why = target?.Cpu?.RatioToProcess is { } emulated
                    ? Inv($"assumed: measured {emulated:0.00}x here under TCG (emulation, no KVM), which is not what hosts with hardware virtualization pay; the article's < 5 %")
                    : tier is "sandbox" or "vm" ? "assumed: not measured on this host; the article's < 5 % with hardware virtualization"
                    : $"assumed: not measured on this host; {tier} runs the host's instructions directly";
                cpu = new PlanFigure($"{tier} CPU factor", assumed.Cpu, Inv($"{assumed.Cpu:0.00}x"), false, why);
            }
            var start = bench is not null && bench.Tiers.TryGetValue(tier, out var entry) && entry.StartMedianMs > 0
                ? new PlanFigure($"{tier} start time", entry.StartMedianMs, BenchTables.Ms(entry.StartMedianMs), true, $"{run}: median request to first output")
                : new PlanFigure($"{tier} start time", assumed.StartMs, "~" + BenchTables.Ms(assumed.StartMs), false, "assumed: the advisor's documented class (docs/advisor.md)");
            costs[tier] = new TierCostFigures(tier, memory, cpu, start);
        }
        return costs;
    }

    /// <summary>
    /// The workloads of the file with their tier and demand. A workload's use is its instance's recommendation (same
    /// name and project) where a usage history exists, else its declared resources, else <see cref="DefaultCpu"/> and
    /// <see cref="DefaultMemoryBytes"/>. A workload the advisor found no tier for here is planned as <c>vm</c>.
    /// </summary>
    public static IReadOnlyList<PlanWorkload> Workloads(AdviseResponse advice, IReadOnlyList<InstanceRecommendation> histories, string fileName)
    {
        ArgumentNullException.ThrowIfNull(advice);
        ArgumentNullException.ThrowIfNull(histories);
        var list = new List<PlanWorkload>();
        foreach (var item in advice.Items)
        {
            var history = histories
                .Where(h => h.Name == item.Name && (item.Project is null || h.Project == item.Project) && h.Samples > 0)
                .OrderByDescending(h => h.State != "removed").ThenByDescending(h => h.Samples)
                .FirstOrDefault();
            var declaredCpu = item.Resources?.Cpus is > 0 ? item.Resources.Cpus : null;
            var declaredMemory = item.Resources?.MemoryBytes is > 0 ? item.Resources.MemoryBytes : null;
            var seen = history is null ? null : Inv($"usage history of instance {history.Name} ({history.Project}, {history.State}): {history.Samples:N0} samples over {history.HistoryHours:0.#} h, the recommendation (p90 + 15 %)");
            var cpu = history is not null
                ? new PlanFigure($"{item.Name} cpu", history.Cpu.Target, Cores(history.Cpu.Target), true, seen!)
                : declaredCpu is { } c ? new PlanFigure($"{item.Name} cpu", c, Cores(c), false, $"declared in {fileName} (resources); no usage history, so the limits are taken as its use")
                : new PlanFigure($"{item.Name} cpu", DefaultCpu, Cores(DefaultCpu), false, $"assumed: no usage history and no resources.cpus in {fileName}");
            var memory = history is not null
                ? new PlanFigure($"{item.Name} memory", history.Memory.Target, BenchTables.Bytes((long)history.Memory.Target), true, seen!)
                : declaredMemory is { } mem ? new PlanFigure($"{item.Name} memory", mem, BenchTables.Bytes(mem), false, $"declared in {fileName} (resources); no usage history, so the limits are taken as its use")
                : new PlanFigure($"{item.Name} memory", DefaultMemoryBytes, BenchTables.Bytes(DefaultMemoryBytes), false, $"assumed: no usage history and no resources.memory in {fileName}");
            var tier = item.Tier is { } t && Tiers.Contains(t) ? t : "vm";
            var note = item.Problem is { } p
                ? $"the advisor found no tier on this host ({p.Detail ?? p.Title}); planned as vm, the tier that runs anything"
                : item.Tier is { } other && !Tiers.Contains(other) ? $"tier {other} is not priced; planned as vm" : null;
            list.Add(new PlanWorkload
            {
                Name = item.Name,
                Project = item.Project,
                Tier = tier,
                TierNote = note,
                Cpu = cpu,
                MemoryBytes = memory,
                SizeCpu = declaredCpu ?? cpu.Value,
                SizeMemoryBytes = declaredMemory ?? (long)memory.Value,
            });
        }
        return list;
    }

    public static string Cores(double cores) => cores >= 1 ? Inv($"{cores:0.##} cores") : Inv($"{cores * 1000:0}m");

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
