using System.Globalization;
using System.Text.RegularExpressions;

namespace Strata.Policy.Workloads;

/// <summary>Parsing of memory sizes and durations as written in workload files and CLI flags.</summary>
public static partial class Quantities
{
    /// <summary>
    /// Parses a memory size: a plain number is bytes; <c>k</c>, <c>m</c>, <c>g</c>, <c>t</c> with an optional
    /// <c>i</c> and/or <c>b</c> (case-insensitive) are binary multiples, as podman's <c>--memory</c> reads them:
    /// <c>64M</c>, <c>64Mi</c>, <c>64MiB</c> and <c>64mb</c> all mean 64 × 1024 × 1024 bytes.
    /// </summary>
    public static bool TryParseMemoryBytes(string? text, out long bytes, out string error)
    {
        bytes = 0;
        var match = MemoryPattern().Match(text?.Trim() ?? "");
        if (!match.Success)
        {
            error = $"'{text}' is not a memory size: use bytes or a unit, e.g. 64M, 512MiB, 1Gi";
            return false;
        }
        var multiplier = char.ToLowerInvariant(match.Groups["unit"].Value.FirstOrDefault('b')) switch
        {
            'k' => 1L << 10,
            'm' => 1L << 20,
            'g' => 1L << 30,
            't' => 1L << 40,
            _ => 1L,
        };
        var value = decimal.Parse(match.Groups["value"].Value, CultureInfo.InvariantCulture) * multiplier;
        if (value > long.MaxValue)
        {
            error = $"'{text}' is too large";
            return false;
        }
        bytes = (long)decimal.Round(value);
        if (bytes <= 0)
        {
            error = $"'{text}' must be more than zero bytes";
            return false;
        }
        error = "";
        return true;
    }

    /// <summary>Parses a duration with a unit: <c>500us</c>, <c>50ms</c>, <c>5s</c>, <c>1.5s</c>, <c>2m</c>.</summary>
    public static bool TryParseDuration(string? text, out TimeSpan duration, out string error)
    {
        duration = default;
        var match = DurationPattern().Match(text?.Trim() ?? "");
        if (!match.Success)
        {
            error = $"'{text}' is not a duration: use a number and a unit (us, ms, s or m), e.g. 50ms or 5s";
            return false;
        }
        var value = decimal.Parse(match.Groups["value"].Value, CultureInfo.InvariantCulture);
        var ticks = match.Groups["unit"].Value switch
        {
            "us" or "µs" => value * 10m,
            "ms" => value * TimeSpan.TicksPerMillisecond,
            "s" => value * TimeSpan.TicksPerSecond,
            _ => value * TimeSpan.TicksPerMinute,
        };
        if (ticks > TimeSpan.MaxValue.Ticks)
        {
            error = $"'{text}' is too long";
            return false;
        }
        duration = TimeSpan.FromTicks((long)decimal.Round(ticks));
        if (duration <= TimeSpan.Zero)
        {
            error = $"'{text}' must be longer than zero";
            return false;
        }
        error = "";
        return true;
    }

    [GeneratedRegex(@"^(?<value>[0-9]+(\.[0-9]+)?)\s*(?<unit>([kKmMgGtT][iI]?[bB]?)|[bB])?$")]
    private static partial Regex MemoryPattern();

    [GeneratedRegex(@"^(?<value>[0-9]+(\.[0-9]+)?)\s*(?<unit>us|µs|ms|s|m)$")]
    private static partial Regex DurationPattern();
}
