using System.Globalization;
using System.Net;
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

    private sealed record Bar(string Target, double Value, string Text, string Kind);

    public static string Render(BenchReport report)
    {
        var html = new StringBuilder();
        html.Append("""
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>strata bench</title>
            <style>
            body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
            table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;font-size:14px}
            th{background:#f0f0f0}.note{color:#555;font-size:13px}svg.chart{display:block;margin:1em 0 2em 0;background:#fafafa;border:1px solid #ddd}
            .bar.tier{fill:#3b6fb6}.bar.baseline{fill:#999}text{font-size:12px;font-family:system-ui,sans-serif}
            </style></head><body>
            <h1>strata bench</h1>
            """);
        html.Append("<p class=\"machine\">").Append(string.Join("<br>", BenchTables.MachineLines(report).Select(E))).Append("</p>\n");
        foreach (var note in report.Notes)
        {
            html.Append("<p class=\"note\">").Append(E(note)).Append("</p>\n");
        }
        Table(html, BenchTables.Article(report));
        Table(html, BenchTables.StartLatency(report));

        var measured = report.Targets.Where(t => t.Skipped is null).ToList();
        Chart(html, "start-latency", "Start latency: request to exit, median (log scale)", measured
            .Where(t => t.Exit is not null).Select(t => new Bar(t.Name, t.Exit!.MedianMs, BenchTables.Ms(t.Exit.MedianMs), t.Kind)).ToList(), log: true);
        Chart(html, "memory", "Memory per idle instance (PSS)", measured
            .Where(t => t.Memory?.Bytes is not null).Select(t => new Bar(t.Name, t.Memory!.Bytes!.Value, BenchTables.Bytes(t.Memory.Bytes), t.Kind)).ToList(), log: false);
        Chart(html, "image-size", "Image or disk size (log scale)", measured
            .Where(t => t.Size?.Bytes is > 0).Select(t => new Bar(t.Name, t.Size!.Bytes!.Value, BenchTables.Bytes(t.Size.Bytes), t.Kind)).ToList(), log: true);
        Chart(html, "density", "Idle instances in the memory budget (extrapolated; log scale)", measured
            .Where(t => t.Density?.Fits is > 0).Select(t => new Bar(t.Name, t.Density!.Fits!.Value, FormattableString.Invariant($"{t.Density.Fits:N0} (from {t.Density.Started})"), t.Kind)).ToList(), log: true);
        Chart(html, "cpu-overhead", "CPU-bound kernel time relative to the process tier (1.00 = no overhead)", measured
            .Where(t => t.Cpu?.RatioToProcess is not null).Select(t => new Bar(t.Name, t.Cpu!.RatioToProcess!.Value, FormattableString.Invariant($"{t.Cpu.RatioToProcess:0.00}x"), t.Kind)).ToList(), log: false);
        Chart(html, "snapshot", "Snapshot create time", measured
            .Where(t => t.Snapshot?.CreateMs is not null).Select(t => new Bar(t.Name, t.Snapshot!.CreateMs!.Value, BenchTables.Ms(t.Snapshot.CreateMs), t.Kind)).ToList(), log: false);
        html.Append("<p class=\"note\">Density is extrapolated from the idle instances really started, never measured to exhaustion. ")
            .Append("Blue bars are Strata tiers, grey bars the baselines run in the same rounds.</p>\n</body></html>\n");
        return html.ToString();
    }

    private static void Table(StringBuilder html, TextTable table)
    {
        html.Append("<h2>").Append(E(table.Title)).Append("</h2>\n<table><tr>");
        foreach (var h in table.Header)
        {
            html.Append("<th>").Append(E(h)).Append("</th>");
        }
        html.Append("</tr>\n");
        foreach (var row in table.Rows)
        {
            html.Append("<tr>");
            foreach (var cell in row)
            {
                html.Append("<td>").Append(E(cell)).Append("</td>");
            }
            html.Append("</tr>\n");
        }
        html.Append("</table>\n");
    }

    private static void Chart(StringBuilder html, string measure, string title, List<Bar> bars, bool log)
    {
        const int left = 110, width = 760, rowHeight = 26, top = 34;
        var height = top + (Math.Max(bars.Count, 1) * rowHeight) + 12;
        html.Append(CultureInfo.InvariantCulture, $"<svg class=\"chart\" data-measure=\"{measure}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{left + width + 120}\" height=\"{height}\" role=\"img\" aria-label=\"{E(title)}\">");
        html.Append(CultureInfo.InvariantCulture, $"<text x=\"8\" y=\"20\" font-weight=\"bold\">{E(title)}</text>");
        if (bars.Count == 0)
        {
            html.Append(CultureInfo.InvariantCulture, $"<text class=\"empty\" x=\"{left}\" y=\"{top + 16}\">nothing measured for this chart in this run</text></svg>\n");
            return;
        }
        var max = bars.Max(b => b.Value);
        double Scale(double v) => log
            ? Math.Max(2, width * Math.Log10(1 + v) / Math.Log10(1 + max))
            : Math.Max(2, width * v / max);
        for (var i = 0; i < bars.Count; i++)
        {
            var b = bars[i];
            var y = top + (i * rowHeight);
            var w = Scale(b.Value);
            html.Append(CultureInfo.InvariantCulture, $"<text x=\"8\" y=\"{y + 15}\">{E(b.Target)}</text>");
            html.Append(CultureInfo.InvariantCulture, $"<rect class=\"bar {b.Kind}\" data-target=\"{E(b.Target)}\" data-value=\"{b.Value:0.###}\" x=\"{left}\" y=\"{y}\" width=\"{w:0.#}\" height=\"{rowHeight - 6}\"><title>{E(b.Target)}: {E(b.Text)}</title></rect>");
            html.Append(CultureInfo.InvariantCulture, $"<text x=\"{left + w + 6:0.#}\" y=\"{y + 15}\">{E(b.Text)}</text>");
        }
        html.Append("</svg>\n");
    }

    private static string E(string text) => WebUtility.HtmlEncode(text);
}
