using System.Globalization;

namespace Strata.Bench.Core;

/// <summary>A table as text cells: the terminal, the HTML page and the tests all render the same rows.</summary>
public sealed record TextTable(string Title, IReadOnlyList<string> Header, IReadOnlyList<IReadOnlyList<string>> Rows);

/// <summary>
/// The article's comparison tables, measured: one column per tier (property × tier, as in "VM vs container"),
/// and the start-latency detail with every baseline and the ratios. Pure functions of a <see cref="BenchReport"/>.
/// </summary>
public static class BenchTables
{
    private static readonly Dictionary<string, (string Level, string Isolation)> Static = new()
    {
        ["process"] = ("none (the host itself)", "none"),
        ["container"] = ("operating system", "medium (kernel shared)"),
        ["wasm"] = ("language runtime", "language sandbox"),
        ["sandbox"] = ("hardware (microVM)", "strong (own kernel)"),
        ["vm"] = ("hardware", "strong (own kernel)"),
        ["fake"] = ("none (test tier)", "none"),
    };

    public static TextTable Article(BenchReport report)
    {
        var tiers = report.Targets.Where(t => t.Kind == "tier").ToList();
        var rows = new List<IReadOnlyList<string>>
        {
            Row("virtualization level", tiers, t => Static.GetValueOrDefault(t.Name).Level ?? "-"),
            Row("start time (to first output, median)", tiers, t => t.Skipped is not null ? "n/a" : Ms(t.FirstOutput?.MedianMs ?? t.Exit?.MedianMs)),
            Row("start to exit (median)", tiers, t => t.Skipped is not null ? "n/a" : Ms(t.Exit?.MedianMs)),
            Row("memory per idle instance (PSS)", tiers, t => Bytes(t.Memory?.Bytes)),
            Row("image / disk size", tiers, t => Bytes(t.Size?.Bytes)),
            Row("density in budget (extrapolated)", tiers, t => t.Density?.Fits is { } f ? f.ToString("N0", CultureInfo.InvariantCulture) : "-"),
            Row("CPU kernel vs process", tiers, t => t.Cpu?.RatioToProcess is { } r ? Inv($"{r:0.00}x") : "-"),
            Row("snapshot / restore", tiers, t => t.Snapshot is { CreateMs: { } c } s ? $"{Ms(c)} / {Ms(s.RestoreMs)}" : "-"),
            Row("isolation", tiers, t => Static.GetValueOrDefault(t.Name).Isolation ?? "-"),
        };
        return new TextTable("Measured on this machine (the article's table)", ["property", .. tiers.Select(t => t.Name)], rows);
    }

    public static TextTable StartLatency(BenchReport report)
    {
        var rows = new List<IReadOnlyList<string>>();
        foreach (var t in report.Targets)
        {
            if (t.Skipped is not null)
            {
                rows.Add([t.Name, t.Label, "skipped: " + t.Skipped, "", "", "", "", ""]);
                continue;
            }
            if (t.Exit is null)
            {
                rows.Add([t.Name, t.Label, t.Errors.Count > 0 ? "failed: " + t.Errors[0] : "not run", "", "", "", "", ""]);
                continue;
            }
            var e = t.Exit;
            var baseline = t.Baseline is { } b ? report.Find(b) : null;
            var ratio = BenchStatistics.Ratio(t.Exit.MedianMs, baseline?.Exit?.MedianMs) is { } x ? Inv($"{x:0.00}x {t.Baseline}") : "";
            if (t.Name == "container" && report.Find("podman")?.Exit?.MedianMs is { } podman)
            {
                ratio += (ratio.Length > 0 ? "; " : "") + Inv($"{BenchStatistics.Ratio(e.MedianMs, podman):0.00}x podman");
            }
            rows.Add([t.Name, t.Label, Ms(t.FirstOutput?.MedianMs), Ms(e.MinMs), Ms(e.MedianMs), Ms(e.P90Ms), Ms(e.MaxMs), ratio + (e.Count < 3 ? Inv($" (n={e.Count})") : "")]);
        }
        return new TextTable("Start latency (ms; to exit unless said; alternating rounds)", ["target", "what ran", "first output", "min", "median", "p90", "max", "ratio"], rows);
    }

    public static IReadOnlyList<string> MachineLines(BenchReport report)
    {
        var m = report.Machine;
        var lines = new List<string>
        {
            $"machine: {m.Cpus} CPUs, {Bytes(m.MemoryBytes)}, kernel {m.Kernel} ({m.Arch}), cgroups {m.Cgroups}",
            $"guests: {m.Accelerator}" + (m.AcceleratorNote is { } n ? $" — {n}" : ""),
            Inv($"load: {m.LoadAtStart ?? "?"} at start, {m.LoadAtEnd ?? "?"} at end; run took {report.DurationSeconds:0.0} s ({(report.Quick ? "quick" : "full")})"),
        };
        if (m.Versions.Count > 0)
        {
            lines.Add("versions: " + string.Join("; ", m.Versions.Select(v => $"{v.Key}: {v.Value}")));
        }
        return lines;
    }

    private static List<string> Row(string property, List<TargetResult> tiers, Func<TargetResult, string> cell) =>
        [property, .. tiers.Select(t => t.Skipped is not null && property != "virtualization level" && property != "isolation" ? "n/a" : cell(t))];

    public static string Ms(double? ms) => ms switch
    {
        null => "-",
        >= 10_000 => Inv($"{ms / 1000:0.0} s"),
        >= 1000 => Inv($"{ms / 1000:0.00} s"),
        >= 10 => Inv($"{ms:0} ms"),
        _ => Inv($"{ms:0.0} ms"),
    };

    public static string Bytes(long? bytes) => bytes switch
    {
        null => "-",
        >= 1L << 30 => Inv($"{bytes / (double)(1L << 30):0.0} GiB"),
        >= 1L << 20 => Inv($"{bytes / (double)(1L << 20):0.0} MiB"),
        >= 1L << 10 => Inv($"{bytes / 1024.0:0} KiB"),
        _ => Inv($"{bytes} B"),
    };

    /// <summary>Tables are compared by tests and read across machines: numbers never follow the current culture.</summary>
    private static string Inv(FormattableString text) => FormattableString.Invariant(text);
}
