using System.Text;

namespace Strata.Bench.Core;

/// <summary>
/// The self-contained HTML report: the tables, the machine, and one inline SVG chart per measure
/// (<c>&lt;svg class="chart" data-measure="start-latency"&gt;</c>, bars <c>&lt;rect class="bar" data-target="container"&gt;</c>).
/// No scripts, fonts or styles from elsewhere: the file opens anywhere, offline.
/// </summary>
public static class HtmlReport
{
    /// <summary>Every measure that gets a chart, in page order.</summary>
    public static readonly IReadOnlyList<string> Measures = ["start-latency", "memory", "image-size", "density", "cpu-overhead", "snapshot"];

    public static string Render(BenchReport report)
    {
        var html = new StringBuilder();
        HtmlParts.Head(html, "strata bench");
        html.Append("<p class=\"machine\">").Append(string.Join("<br>", BenchTables.MachineLines(report).Select(E))).Append("</p>\n");
        foreach (var note in report.Notes)
        {
            html.Append("<p class=\"note\">").Append(E(note)).Append("</p>\n");
        }
        Table(html, BenchTables.Article(report));
        Table(html, BenchTables.StartLatency(report));

        var measured = report.Targets.Where(t => t.Skipped is null).ToList();
        Chart(html, "start-latency", "Start latency: request to exit, median (log scale)", measured
            .Where(t => t.Exit is not null).Select(t => new ChartBar(t.Name, t.Exit!.MedianMs, BenchTables.Ms(t.Exit.MedianMs), t.Kind)).ToList(), log: true);
        Chart(html, "memory", "Memory per idle instance (PSS)", measured
            .Where(t => t.Memory?.Bytes is not null).Select(t => new ChartBar(t.Name, t.Memory!.Bytes!.Value, BenchTables.Bytes(t.Memory.Bytes), t.Kind)).ToList(), log: false);
        Chart(html, "image-size", "Image or disk size (log scale)", measured
            .Where(t => t.Size?.Bytes is > 0).Select(t => new ChartBar(t.Name, t.Size!.Bytes!.Value, BenchTables.Bytes(t.Size.Bytes), t.Kind)).ToList(), log: true);
        Chart(html, "density", "Idle instances in the memory budget (extrapolated; log scale)", measured
            .Where(t => t.Density?.Fits is > 0).Select(t => new ChartBar(t.Name, t.Density!.Fits!.Value, FormattableString.Invariant($"{t.Density.Fits:N0} (from {t.Density.Started})"), t.Kind)).ToList(), log: true);
        Chart(html, "cpu-overhead", "CPU-bound kernel time relative to the process tier (1.00 = no overhead)", measured
            .Where(t => t.Cpu?.RatioToProcess is not null).Select(t => new ChartBar(t.Name, t.Cpu!.RatioToProcess!.Value, FormattableString.Invariant($"{t.Cpu.RatioToProcess:0.00}x"), t.Kind)).ToList(), log: false);
        Chart(html, "snapshot", "Snapshot create time", measured
            .Where(t => t.Snapshot?.CreateMs is not null).Select(t => new ChartBar(t.Name, t.Snapshot!.CreateMs!.Value, BenchTables.Ms(t.Snapshot.CreateMs), t.Kind)).ToList(), log: false);
        html.Append("<p class=\"note\">Density is extrapolated from the idle instances really started, never measured to exhaustion. ")
            .Append("Blue bars are Strata tiers, grey bars the baselines run in the same rounds.</p>\n</body></html>\n");
        return html.ToString();
    }

    private static void Table(StringBuilder html, TextTable table) => HtmlParts.Table(html, table);

    private static void Chart(StringBuilder html, string measure, string title, List<ChartBar> bars, bool log) => HtmlParts.Chart(html, measure, title, bars, log);

    private static string E(string text) => HtmlParts.E(text);
}
