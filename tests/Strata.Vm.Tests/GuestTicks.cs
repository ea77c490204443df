using System.Globalization;
using System.Text.RegularExpressions;

namespace Strata.Vm.Tests;

/// <summary>
/// The counter the move tests' guests print (<c>tick N</c>, one a tenth of a second), read from a log: a moved guest
/// that did not restart goes on from where it was.
/// </summary>
internal static partial class GuestTicks
{
    /// <summary>Every value printed, in order.</summary>
    public static List<int> All(string log) =>
        [.. TickLine().Matches(log).Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture))];

    /// <summary>The value printed last; 0 when none was.</summary>
    public static int Last(string log) => All(log) is { Count: > 0 } t ? t[^1] : 0;

    /// <summary>The highest value printed (a log of two copies of the guest may interleave); 0 when none was.</summary>
    public static int Highest(string log) => All(log) is { Count: > 0 } t ? t.Max() : 0;

    [GeneratedRegex(@"tick (\d+)")]
    private static partial Regex TickLine();
}
