using System.Globalization;
using System.Text;

namespace Strata.Bench.Core.Planning;

/// <summary>A <see cref="PlanReport"/> as tables (terminal and HTML render the same rows) and as a self-contained HTML page.</summary>
public static class PlanTables
{
    /// <summary>Every chart of the HTML page, in page order.</summary>
    public static readonly IReadOnlyList<string> Measures = ["hosts", "cpu-utilisation", "memory-utilisation", "overhead-memory", "start"];

    public static string Heading(PlanReport r) => Inv($"{r.File}: {r.Workloads.Count} workload{(r.Workloads.Count == 1 ? "" : "s")} on hosts of {PlanInputs.Cores(r.HostCpus)} and {BenchTables.Bytes(r.HostMemoryBytes)}")
        + (r.Hosts is { } n ? Inv($"; {n} host{(n == 1 ? "" : "s")} available") : "");

    public static TextTable Models(PlanReport r) => new("Hosts needed per deployment model",
        ["model", "hosts", "cpu used", "memory used", "cpu reserved", "memory reserved", "isolation memory", "slowest start"],
        [.. r.Models.Select(m => (IReadOnlyList<string>)
        [
            m.Title,
            m.HostsNeeded.ToString(CultureInfo.InvariantCulture) + (m.Fits is { } fits ? fits ? " (fits)" : " (does not fit)" : "") + (m.Unplaced.Count > 0 ? Inv($" + {m.Unplaced.Count} unplaced") : ""),
            Percent(m.CpuUtilisation), Percent(m.MemoryUtilisation), Percent(m.CpuAllocated), Percent(m.MemoryAllocated),
            BenchTables.Bytes(m.OverheadMemoryBytes),
            $"{(m.StartMeasured ? "" : "~")}{BenchTables.Ms(m.StartMs)} ({m.StartTier}, {(m.StartMeasured ? "measured" : "assumed")})",
        ])]);

    public static TextTable Workloads(PlanReport r) => new("Workloads",
        ["workload", "advisor's tier", "cpu", "memory", "from"],
        [.. r.Workloads.Select(w => (IReadOnlyList<string>)
        [
            w.Name, w.Tier + (w.TierNote is null ? "" : " (see notes)"), w.Cpu.Text, w.MemoryBytes.Text,
            w.Cpu.Source == w.MemoryBytes.Source ? w.Cpu.Source : $"cpu: {w.Cpu.Source}; memory: {w.MemoryBytes.Source}",
        ])]);

    public static TextTable Figures(PlanReport r) => new("Numbers used: measured or assumed",
        ["number", "value", "kind", "where from"],
        [.. r.Figures.Select(f => (IReadOnlyList<string>)[f.Name, f.Text, f.Measured ? "measured" : f.Source.StartsWith("given", StringComparison.Ordinal) ? "given" : "assumed", f.Source])]);

    /// <summary>The notes: the advisor's fallbacks, workloads no host can hold, and the report's own notes.</summary>
    public static IEnumerable<string> Notes(PlanReport r) =>
        r.Notes
            .Concat(r.Workloads.Where(w => w.TierNote is not null).Select(w => $"{w.Name}: {w.TierNote}"))
            .Concat(r.Models.SelectMany(m => m.Unplaced.Select(u => $"{m.Title}: {u}")));

    public static string Text(PlanReport r)
    {
        var sb = new StringBuilder();
        sb.AppendLine(Heading(r)).AppendLine();
        foreach (var table in (TextTable[])[Models(r), Workloads(r), Figures(r)])
        {
            sb.AppendLine(table.Title);
            WriteTable(sb, table);
            sb.AppendLine();
        }
        foreach (var m in r.Models)
        {
            sb.AppendLine(Inv($"{m.Title}: {m.How}."));
        }
        foreach (var note in Notes(r))
        {
            sb.AppendLine("note: " + note);
        }
        return sb.ToString();
    }

    public static string Html(PlanReport r)
    {
        var html = new StringBuilder();
        HtmlParts.Head(html, "strata plan", ".bar.physical{fill:#999}");
        html.Append("<p class=\"heading\">").Append(HtmlParts.E(Heading(r))).Append("</p>\n");
        HtmlParts.Table(html, Models(r), "models");
        var bars = (Func<ModelResult, double> value, Func<ModelResult, string> text) =>
            r.Models.Select(m => new ChartBar(m.Title, value(m), text(m), m.Model == "physical" ? "physical" : "tier")).ToList();
        HtmlParts.Chart(html, "hosts", "Hosts needed", bars(m => m.HostsNeeded, m => m.HostsNeeded.ToString(CultureInfo.InvariantCulture)), log: false);
        HtmlParts.Chart(html, "cpu-utilisation", "CPU used by the workloads, of the hosts' CPUs", bars(m => m.CpuUtilisation, m => Percent(m.CpuUtilisation)), log: false, scaleMax: 1);
        HtmlParts.Chart(html, "memory-utilisation", "Memory used by the workloads, of the hosts' memory", bars(m => m.MemoryUtilisation, m => Percent(m.MemoryUtilisation)), log: false, scaleMax: 1);
        HtmlParts.Chart(html, "overhead-memory", "Memory the isolation takes (idle instances, guests, node VMs)", bars(m => m.OverheadMemoryBytes, m => BenchTables.Bytes(m.OverheadMemoryBytes)), log: false);
        HtmlParts.Chart(html, "start", "Slowest start of a workload (log scale)", bars(m => m.StartMs, m => $"{BenchTables.Ms(m.StartMs)} ({m.StartTier}, {(m.StartMeasured ? "measured" : "assumed")})"), log: true);
        foreach (var m in r.Models)
        {
            html.Append("<p class=\"note\"><b>").Append(HtmlParts.E(m.Title)).Append("</b>: ").Append(HtmlParts.E(m.How)).Append(".</p>\n");
        }
        HtmlParts.Table(html, Workloads(r), "workloads");
        HtmlParts.Table(html, Figures(r), "figures");
        foreach (var note in Notes(r))
        {
            html.Append("<p class=\"note\">").Append(HtmlParts.E(note)).Append("</p>\n");
        }
        html.Append("</body></html>\n");
        return html.ToString();
    }

    public static string Percent(double fraction) => Inv($"{fraction * 100:0.#} %");

    private static void WriteTable(StringBuilder sb, TextTable table)
    {
        var widths = table.Header.Select((h, i) => Math.Max(h.Length, table.Rows.Count == 0 ? 0 : table.Rows.Max(r => r[i].Length))).ToArray();
        void Line(IReadOnlyList<string> cells) =>
            sb.AppendLine("  " + string.Join("  ", cells.Select((c, i) => i == cells.Count - 1 ? c : c.PadRight(widths[i]))).TrimEnd());
        Line([.. table.Header.Select(h => h.ToUpperInvariant())]);
        foreach (var row in table.Rows)
        {
            Line(row);
        }
    }

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
