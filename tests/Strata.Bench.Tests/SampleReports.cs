using Strata.Bench.Core;

namespace Strata.Bench.Tests;

/// <summary>A report with known numbers, as if measured: the input of the table, HTML and browser tests.</summary>
internal static class SampleReports
{
    public static BenchReport Known() => new()
    {
        Time = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero),
        Quick = true,
        DurationSeconds = 42.5,
        Machine = new MachineDescription
        {
            Cpus = 2, MemoryBytes = 8L << 30, Kernel = "6.1.0", Arch = "amd64", Cgroups = "v2", Accelerator = "TCG",
            AcceleratorNote = "KVM unusable", LoadAtStart = "1.00 1.00 1.00", LoadAtEnd = "2.00 1.50 1.00",
            Versions = new Dictionary<string, string> { ["runc"] = "runc version 1.1.5" },
        },
        Targets =
        [
            Tier("process", BenchStatistics.Summarize([20, 22, 24]), BenchStatistics.Summarize([21, 23, 25]), "direct",
                memory: 1L << 20, size: 2L << 20, fits: 4096, cpu: (1000, 1.0)),
            new TargetResult { Name = "direct", Kind = "baseline", Label = "busybox echo (directly, no Strata)", Exit = BenchStatistics.Summarize([0.5, 0.5, 0.5]) },
            Tier("container", BenchStatistics.Summarize([40, 50, 60]), BenchStatistics.Summarize([45, 55, 65]), "runc",
                memory: 4L << 20, size: 2L << 20, fits: 1024, cpu: (1030, 1.03), snapshot: new SnapshotResult(95, 53, "filesystem")),
            new TargetResult { Name = "runc", Kind = "baseline", Label = "runc run (prepared bundle)", Exit = BenchStatistics.Summarize([20, 22, 24]) },
            new TargetResult { Name = "podman", Kind = "baseline", Label = "podman run --rm --runtime runc", Exit = BenchStatistics.Summarize([300, 330, 360]) },
            new TargetResult { Name = "wasm", Kind = "tier", Label = "strata run --rm --tier wasm", FirstOutput = BenchStatistics.Summarize([3]), Exit = BenchStatistics.Summarize([3]) },
            Tier("sandbox", BenchStatistics.Summarize([3000]), BenchStatistics.Summarize([3300]), "qemu", memory: 200L << 20, size: 35L << 20, fits: 20, cpu: (6000, 6.0)),
            new TargetResult { Name = "qemu", Kind = "baseline", Label = "qemu-system-x86_64 -M microvm", Exit = BenchStatistics.Summarize([3000]) },
            new TargetResult { Name = "vm", Kind = "tier", Label = "strata run --rm --tier vm", Skipped = "not available here: no guest kernel" },
        ],
        Tiers = new Dictionary<string, TierCostEntry>
        {
            ["process"] = new(21, "strata bench 2026-01-02"),
            ["container"] = new(50, "strata bench 2026-01-02"),
            ["wasm"] = new(3, "strata bench 2026-01-02"),
            ["sandbox"] = new(3000, "strata bench 2026-01-02, TCG"),
        },
        Notes = ["KVM is not usable here"],
    };

    private static TargetResult Tier(string name, LatencyStats? first, LatencyStats? exit, string baseline, long memory, long size, long fits, (double Ms, double Ratio) cpu, SnapshotResult? snapshot = null) => new()
    {
        Name = name,
        Kind = "tier",
        Label = $"strata run --rm --tier {name}",
        Baseline = baseline,
        FirstOutput = first,
        Exit = exit,
        Memory = new MemoryResult(memory, "supervisor + workload"),
        Size = new SizeResult(size, "image"),
        Density = new DensityResult(3, 4L << 30, memory, fits),
        Cpu = new CpuResult(cpu.Ms, cpu.Ratio, "busybox sh loop"),
        Snapshot = snapshot,
    };
}
