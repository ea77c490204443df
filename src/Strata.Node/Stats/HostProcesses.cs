using System.Globalization;
using Strata.Contracts.Drivers;

namespace Strata.Node.Stats;

/// <summary>
/// What /proc says about a workload's host processes: CPU time, resident and proportional memory, the process table
/// (<c>strata top</c>) and a process's children. Used by the tiers whose workload is a set of host processes without a
/// cgroup that counts for them (QEMU of the vm and sandbox tiers, the process tier without a memory limit) and by
/// the container tier's <c>top</c>.
/// </summary>
public static class HostProcesses
{
    /// <summary>USER_HZ: 100 on every Linux architecture .NET runs on.</summary>
    private const double TicksPerSecond = 100.0;

    /// <summary>
    /// CPU time of <paramref name="pid"/> (all its threads) in nanoseconds; with <paramref name="withReapedChildren"/>
    /// also of the children it has waited for (a shell's finished commands). Null when the process is gone.
    /// </summary>
    public static long? CpuNanoseconds(int pid, bool withReapedChildren = false)
    {
        if (ReadStatFields(pid) is not { } f)
        {
            return null;
        }
        // Fields after the command name start at field 3 (state): utime is field 14, stime 15, cutime 16, cstime 17.
        var ticks = Field(f, 14) + Field(f, 15) + (withReapedChildren ? Field(f, 16) + Field(f, 17) : 0);
        return (long)(ticks / TicksPerSecond * 1e9);
    }

    /// <summary>Resident (RSS) and proportional (PSS: shared pages divided among their users) memory of <paramref name="pid"/>, in bytes; null when gone.</summary>
    public static ProcessMemory? Memory(int pid)
    {
        long? rss = null, pss = null;
        try
        {
            foreach (var line in File.ReadLines("/proc/" + pid.ToString(CultureInfo.InvariantCulture) + "/smaps_rollup"))
            {
                if (line.StartsWith("Rss:", StringComparison.Ordinal))
                {
                    rss = Kib(line);
                }
                else if (line.StartsWith("Pss:", StringComparison.Ordinal))
                {
                    pss = Kib(line);
                    break;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        return rss is { } r ? new ProcessMemory(r, pss ?? r) : null;
    }

    /// <summary>The sum over <paramref name="pids"/> of what is still there (processes that ended count nothing).</summary>
    public static (long CpuNanoseconds, ProcessMemory Memory) Sum(IEnumerable<int> pids, bool withReapedChildren)
    {
        long cpu = 0, rss = 0, pss = 0;
        foreach (var pid in pids)
        {
            cpu += CpuNanoseconds(pid, withReapedChildren) ?? 0;
            if (Memory(pid) is { } m)
            {
                rss += m.RssBytes;
                pss += m.PssBytes;
            }
        }
        return (cpu, new ProcessMemory(rss, pss));
    }

    /// <summary>The direct children of <paramref name="pid"/> (from every thread's <c>children</c> list).</summary>
    public static IReadOnlyList<int> Children(int pid)
    {
        var children = new SortedSet<int>();
        try
        {
            foreach (var task in Directory.EnumerateDirectories("/proc/" + pid.ToString(CultureInfo.InvariantCulture) + "/task"))
            {
                try
                {
                    foreach (var word in File.ReadAllText(Path.Combine(task, "children")).Split(' ', StringSplitOptions.RemoveEmptyEntries))
                    {
                        if (int.TryParse(word, NumberStyles.None, CultureInfo.InvariantCulture, out var child))
                        {
                            children.Add(child);
                        }
                    }
                }
                catch (IOException)
                {
                    // the thread ended
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        return [.. children];
    }

    /// <summary><paramref name="pid"/> and its direct children (none when there is no PID).</summary>
    public static IReadOnlyList<int> WithChildren(int? pid) => pid is { } p ? [p, .. Children(p)] : [];

    /// <summary>
    /// The process table (<c>strata top</c>) of a tier whose workload is one host process and the helpers it started:
    /// QEMU and virtiofsd on the vm and sandbox tiers.
    /// </summary>
    public static Task<IReadOnlyList<ProcessEntry>> TopOf(int? pid) => Task.FromResult(Entries(WithChildren(pid)));

    /// <summary>The process table entries of <paramref name="pids"/> (processes that ended meanwhile are left out).</summary>
    public static IReadOnlyList<ProcessEntry> Entries(IEnumerable<int> pids)
    {
        var list = new List<ProcessEntry>();
        foreach (var pid in pids)
        {
            try
            {
                var stat = File.ReadAllText($"/proc/{pid}/stat");
                var close = stat.LastIndexOf(')');
                var fields = stat[(close + 2)..].Split(' ');
                var cmdline = File.ReadAllText($"/proc/{pid}/cmdline").TrimEnd('\0').Replace('\0', ' ');
                if (cmdline.Length == 0)
                {
                    cmdline = "[" + stat[(stat.IndexOf('(') + 1)..close] + "]";
                }
                var uid = 0;
                foreach (var line in File.ReadLines($"/proc/{pid}/status"))
                {
                    if (line.StartsWith("Uid:", StringComparison.Ordinal))
                    {
                        uid = int.Parse(line.Split('\t', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
                        break;
                    }
                }
                var cpu = (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / TicksPerSecond;
                var rss = long.Parse(fields[21], CultureInfo.InvariantCulture) * Environment.SystemPageSize;
                list.Add(new ProcessEntry(pid, int.Parse(fields[1], CultureInfo.InvariantCulture), uid, fields[0], cpu, rss, cmdline));
            }
            catch (Exception e) when (e is IOException or FormatException or IndexOutOfRangeException)
            {
                // exited while we looked
            }
        }
        return list;
    }

    private static string[]? ReadStatFields(int pid)
    {
        try
        {
            var stat = File.ReadAllText("/proc/" + pid.ToString(CultureInfo.InvariantCulture) + "/stat");
            var close = stat.LastIndexOf(')');
            return close < 0 || close + 2 >= stat.Length ? null : stat[(close + 2)..].Split(' ');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Field <paramref name="n"/> of /proc/PID/stat (1-based, as proc(5) numbers them) from the fields after the command name.</summary>
    private static long Field(string[] fields, int n) =>
        n - 3 < fields.Length && long.TryParse(fields[n - 3], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v) ? v : 0;

    private static long Kib(string line)
    {
        var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return parts.Length >= 2 && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var kib) ? kib * 1024 : 0;
    }
}

/// <summary>Host memory of a process or a set of them: resident, and proportional (shared pages divided among their users).</summary>
public readonly record struct ProcessMemory(long RssBytes, long PssBytes);
