using System.Globalization;
using System.Net;
using System.Text;

namespace Strata.Bench.Core;

/// <summary>One bar of an <see cref="HtmlParts.Chart"/>: its label, value, the text shown beside it and its CSS kind.</summary>
public sealed record ChartBar(string Target, double Value, string Text, string Kind);

/// <summary>
/// The pieces the self-contained HTML reports share (<c>strata bench --report</c>, <c>strata plan --report</c>):
/// the page head with its inline style, tables from <see cref="TextTable"/>, and horizontal bar charts as inline SVG
/// (<c>&lt;svg class="chart" data-measure="…"&gt;</c>, one <c>&lt;rect class="bar KIND" data-target="…" data-value="…"&gt;</c>
/// per bar). No scripts, fonts or styles from elsewhere.
/// </summary>
public static class HtmlParts
{
    /// <summary>The opening of a page up to and including <c>&lt;h1&gt;</c>; <paramref name="extraStyle"/> adds CSS rules.</summary>
    public static void Head(StringBuilder html, string title, string extraStyle = "")
    {
        html.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>").Append(E(title)).Append("""
            </title>
            <style>
            body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
            table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;font-size:14px}
            th{background:#f0f0f0}.note{color:#555;font-size:13px}svg.chart{display:block;margin:1em 0 2em 0;background:#fafafa;border:1px solid #ddd}
            .bar.tier{fill:#3b6fb6}.bar.baseline{fill:#999}text{font-size:12px;font-family:system-ui,sans-serif}
            """).Append(extraStyle).Append("\n</style></head><body>\n<h1>").Append(E(title)).Append("</h1>\n");
    }

    public static void Table(StringBuilder html, TextTable table, string? cssClass = null)
    {
        html.Append("<h2>").Append(E(table.Title)).Append("</h2>\n<table").Append(cssClass is null ? "" : $" class=\"{E(cssClass)}\"").Append("><tr>");
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

    /// <summary>A horizontal bar chart, one row per bar, scaled to the largest value (log scale when <paramref name="log"/>).</summary>
    public static void Chart(StringBuilder html, string measure, string title, IReadOnlyList<ChartBar> bars, bool log, double? scaleMax = null)
    {
        const int left = 150, width = 720, rowHeight = 26, top = 34;
        var height = top + (Math.Max(bars.Count, 1) * rowHeight) + 12;
        html.Append(CultureInfo.InvariantCulture, $"<svg class=\"chart\" data-measure=\"{measure}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{left + width + 160}\" height=\"{height}\" role=\"img\" aria-label=\"{E(title)}\">");
        html.Append(CultureInfo.InvariantCulture, $"<text x=\"8\" y=\"20\" font-weight=\"bold\">{E(title)}</text>");
        if (bars.Count == 0)
        {
            html.Append(CultureInfo.InvariantCulture, $"<text class=\"empty\" x=\"{left}\" y=\"{top + 16}\">nothing measured for this chart in this run</text></svg>\n");
            return;
        }
        var max = Math.Max(scaleMax ?? 0, bars.Max(b => b.Value));
        double Scale(double v) => max <= 0 ? 2 : log
            ? Math.Max(2, width * Math.Log10(1 + v) / Math.Log10(1 + max))
            : Math.Max(2, width * v / max);
        for (var i = 0; i < bars.Count; i++)
        {
            var b = bars[i];
            var y = top + (i * rowHeight);
            var w = Scale(b.Value);
            html.Append(CultureInfo.InvariantCulture, $"<text x=\"8\" y=\"{y + 15}\">{E(b.Target)}</text>");
            html.Append(CultureInfo.InvariantCulture, $"<rect class=\"bar {b.Kind}\" data-target=\"{E(b.Target)}\" data-value=\"{b.Value:0.###}\" x=\"{left}\" y=\"{y}\" width=\"{w:0.#}\" height=\"{rowHeight - 6}\"><title>{E(b.Target)}: {E(b.Text)}</title></rect>");
            html.Append(CultureInfo.InvariantCulture, $"<text class=\"value\" x=\"{left + w + 6:0.#}\" y=\"{y + 15}\">{E(b.Text)}</text>");
        }
        html.Append("</svg>\n");
    }

    public static string E(string text) => WebUtility.HtmlEncode(text);
}
