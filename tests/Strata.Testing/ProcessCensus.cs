using System.Globalization;

namespace Strata.Testing;

/// <summary>Live processes on the host as /proc shows them; zombies (ended, not yet reaped by their parent) do not count.</summary>
public static class ProcessCensus
{
    /// <summary>True when a live process of process group <paramref name="pgid"/> runs.</summary>
    public static bool GroupAlive(int pgid) => Live().Any(p => p.Pgid == pgid);

    /// <summary>True when <paramref name="pid"/> is a live process.</summary>
    public static bool Alive(int pid) => Stat(pid) is { } s && !s.Zombie;

    /// <summary>Live processes in a cgroup (of any hierarchy) whose path names <paramref name="instanceId"/>.</summary>
    public static IReadOnlyList<int> InCgroupOf(string instanceId)
    {
        var found = new List<int>();
        foreach (var (pid, _, _, _) in Live())
        {
            try
            {
                if (File.ReadAllText($"/proc/{pid}/cgroup").Contains("/" + instanceId, StringComparison.Ordinal))
                {
                    found.Add(pid);
                }
            }
            catch (IOException)
            {
                // ended meanwhile
            }
        }
        return found;
    }

    /// <summary>The process group of <paramref name="pid"/>.</summary>
    public static int GroupOf(int pid) => Stat(pid)?.Pgid ?? throw new InvalidOperationException($"there is no process {pid}");

    /// <summary>The parent of <paramref name="pid"/>.</summary>
    public static int ParentOf(int pid) => Stat(pid)?.Ppid ?? throw new InvalidOperationException($"there is no process {pid}");

    /// <summary>
    /// Sends SIGKILL to <paramref name="pid"/> (an instance's supervisor) and reads <paramref name="read"/> every 20 ms
    /// until <paramref name="settled"/> holds (at most 10 s). Returns the last value and how long after the kill it settled.
    /// </summary>
    public static async Task<(T Value, TimeSpan Elapsed)> KillAndWatchAsync<T>(int pid, Func<Task<T>> read, Func<T, bool> settled)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        if (!Strata.Node.Supervision.Signals.Send(pid, Strata.Node.Supervision.Signals.SIGKILL))
        {
            throw new InvalidOperationException($"could not kill {pid}");
        }
        T value;
        while (!settled(value = await read()) && clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(20);
        }
        return (value, clock.Elapsed);
    }

    /// <summary>Live processes whose command line contains <paramref name="text"/>.</summary>
    public static IEnumerable<(int Pid, string CommandLine)> Naming(string text)
    {
        foreach (var (pid, _, _, _) in Live())
        {
            string cmdline;
            try
            {
                cmdline = File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ');
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue; // ended meanwhile
            }
            if (cmdline.Contains(text, StringComparison.Ordinal))
            {
                yield return (pid, cmdline);
            }
        }
    }

    /// <summary>Live QEMU processes (their command line names <c>qemu-system</c>) whose command line contains <paramref name="text"/> (a data root, an instance's directory).</summary>
    public static IReadOnlyList<int> Qemus(string text) =>
        [.. Naming(text).Where(p => p.CommandLine.Contains("qemu-system", StringComparison.Ordinal)).Select(p => p.Pid)];

    /// <summary>
    /// Sends SIGKILL to every live process whose command line contains <paramref name="text"/> (a test's temporary
    /// directory: a QEMU, supervisor or daemon that outlived the test). Returns how many it signalled.
    /// </summary>
    public static int KillNaming(string text)
    {
        var killed = 0;
        foreach (var (pid, _) in Naming(text).ToList())
        {
            if (pid != Environment.ProcessId && Strata.Node.Supervision.Signals.Send(pid, Strata.Node.Supervision.Signals.SIGKILL))
            {
                killed++;
            }
        }
        return killed;
    }

    private static IEnumerable<(int Pid, int Ppid, int Pgid, bool Zombie)> Live()
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && Stat(pid) is { Zombie: false } s)
            {
                yield return (pid, s.Ppid, s.Pgid, false);
            }
        }
    }

    private static (int Ppid, int Pgid, bool Zombie)? Stat(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return (int.Parse(fields[1], CultureInfo.InvariantCulture), int.Parse(fields[2], CultureInfo.InvariantCulture), fields[0] is "Z" or "X");
        }
        catch (IOException)
        {
            return null;
        }
    }
}
