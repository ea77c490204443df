using System.Text;
using Spectre.Console;

namespace Strata.Cli;

/// <summary>
/// A table laid out as <see cref="InstanceCommands.NewTable"/> lays it out (no border, columns left-aligned and
/// two spaces apart, a bold header), written straight to standard output. For lists that can be long
/// (<c>ps</c> of 10,000 instances): Spectre's layout measures every cell as a renderable and builds segments for
/// each, which took 0.5 s at that size; this pads strings once and writes through one buffered stream.
/// Lines are not fitted to the terminal's width (as <c>docker ps</c> does not).
/// </summary>
internal sealed class PlainTable(params string[] headers)
{
    private readonly List<string[]> _rows = [];
    private readonly int[] _widths = [.. headers.Select(Width)];

    public void AddRow(params string[] cells)
    {
        for (var c = 0; c < _widths.Length; c++)
        {
            _widths[c] = Math.Max(_widths[c], Width(cells[c]));
        }
        _rows.Add(cells);
    }

    public void Write()
    {
        using var stdout = new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false), 1 << 16) { NewLine = "\n" };
        var bold = AnsiConsole.Profile.Capabilities.Ansi;
        var line = new StringBuilder();
        Line(line, headers, bold);
        stdout.Write(line);
        foreach (var row in _rows)
        {
            Line(line, row, bold: false);
            stdout.Write(line);
        }
    }

    private void Line(StringBuilder line, string[] cells, bool bold)
    {
        line.Clear();
        for (var c = 0; c < cells.Length; c++)
        {
            var last = c == cells.Length - 1;
            if (bold)
            {
                line.Append("\u001b[1m").Append(cells[c]).Append("\u001b[0m");
            }
            else
            {
                line.Append(cells[c]);
            }
            if (!last)
            {
                line.Append(' ', _widths[c] - Width(cells[c]) + 2);
            }
        }
        line.Append('\n');
    }

    /// <summary>Terminal cells a text takes (wide characters count two), as Spectre measures it.</summary>
    private static int Width(string text) => new Spectre.Console.Rendering.Segment(text).CellCount();
}
