using System.Globalization;

namespace Strata.Contracts;

/// <summary>The one parser of sizes people type: <c>64M</c>, <c>1G</c>, <c>512Ki</c>, <c>10MiB</c>, or bytes (powers of 1024).</summary>
public static class Sizes
{
    /// <summary>
    /// Parses <paramref name="text"/>, or throws an InvalidArgument naming <paramref name="field"/>.
    /// With <paramref name="allowNegative"/> a sign passes through, so the range check that follows can name the real problem.
    /// </summary>
    public static long Parse(string field, string text, bool allowNegative = false)
    {
        var t = text.Trim();
        long multiplier = 1;
        if (t.Length > 0 && char.IsLetter(t[^1]))
        {
            var unit = t.TrimEnd('B', 'b').TrimEnd('i');
            multiplier = unit.Length == 0 ? 0 : char.ToUpperInvariant(unit[^1]) switch
            {
                'K' => 1L << 10,
                'M' => 1L << 20,
                'G' => 1L << 30,
                'T' => 1L << 40,
                _ => 0,
            };
            t = multiplier == 0 ? t : unit[..^1];
        }
        var style = allowNegative ? NumberStyles.AllowLeadingSign : NumberStyles.None;
        if (multiplier == 0 || !long.TryParse(t, style, CultureInfo.InvariantCulture, out var n) || n > long.MaxValue / multiplier || n < long.MinValue / multiplier)
        {
            throw StrataException.Invalid(field, $"'{text}' is not a size; use bytes or a number with K, M or G (e.g. 64M)");
        }
        return n * multiplier;
    }
}
