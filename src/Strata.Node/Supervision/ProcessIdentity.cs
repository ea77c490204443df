using System.Globalization;

namespace Strata.Node.Supervision;

/// <summary>
/// Identifies a process by (pid, start time) so that a recycled PID is never mistaken for the process
/// we started. The start time is field 22 of <c>/proc/PID/stat</c>, in clock ticks since boot.
/// </summary>
public static class ProcessIdentity
{
    /// <summary>The start time of <paramref name="pid"/> in clock ticks since boot, or null if there is no such process.</summary>
    public static long? TryGetStartTicks(int pid) => TryReadStat(pid, out var ticks, out _) ? ticks : null;

    /// <summary>
    /// True when <paramref name="pid"/> exists, has not exited (a zombie counts as exited) and started at
    /// <paramref name="startTicks"/>, i.e. it is the same process and not a later one that reuses the PID.
    /// </summary>
    public static bool IsAlive(int pid, long startTicks) =>
        TryReadStat(pid, out var ticks, out var state) && ticks == startTicks && state != 'Z' && state != 'X' && state != 'x';

    private static bool TryReadStat(int pid, out long startTicks, out char state)
    {
        startTicks = 0;
        state = '\0';
        if (pid <= 0)
        {
            return false;
        }
        string text;
        try
        {
            text = File.ReadAllText("/proc/" + pid.ToString(CultureInfo.InvariantCulture) + "/stat");
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
        return TryParseStat(text, out startTicks, out state);
    }

    /// <summary>Parses a /proc/PID/stat line. The command name (field 2) may hold spaces and parentheses, so fields are counted after the LAST ')'.</summary>
    internal static bool TryParseStat(ReadOnlySpan<char> text, out long startTicks, out char state)
    {
        startTicks = 0;
        state = '\0';
        var close = text.LastIndexOf(')');
        if (close < 0 || close + 2 >= text.Length)
        {
            return false;
        }
        var rest = text[(close + 2)..];
        // rest starts at field 3 (state); field 22 (starttime) is the 20th of rest.
        var field = 3;
        while (true)
        {
            var space = rest.IndexOf(' ');
            var token = space < 0 ? rest : rest[..space];
            if (field == 3)
            {
                state = token.Length > 0 ? token[0] : '\0';
            }
            else if (field == 22)
            {
                return long.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out startTicks);
            }
            if (space < 0)
            {
                return false;
            }
            rest = rest[(space + 1)..];
            field++;
        }
    }
}
