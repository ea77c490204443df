using System.Diagnostics;
using System.Globalization;

namespace Strata.Control;

/// <summary>
/// What a start cut short by a daemon crash may have left of an instance recorded <c>created</c>: the record is
/// written <c>running</c> only after the driver returns the workload's PIDs, so a crash in between leaves a workload
/// (its supervisor, the runtime, the container) and mounts that no record names. Found from the host's view alone,
/// for every tier: processes holding a file under the instance directory (a supervisor holds its logs, QEMU its
/// disks) with all their descendants (the runtime and the container below a supervisor), and mounts under it.
/// </summary>
internal static class InterruptedStart
{
    public sealed record Traces(IReadOnlyList<int> Processes, IReadOnlyList<string> Mounts)
    {
        public bool Any => Processes.Count > 0 || Mounts.Count > 0;
    }

    public static Traces Find(string directory)
    {
        var prefix = Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory)) + "/";
        var self = Environment.ProcessId;
        var parents = new Dictionary<int, int>();
        var holders = new HashSet<int>();
        foreach (var dir in SafeEntries("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid == self)
            {
                continue;
            }
            if (ParentOf(pid) is { } parent)
            {
                parents[pid] = parent;
            }
            if (Holds(pid, prefix))
            {
                holders.Add(pid);
            }
        }
        var found = new HashSet<int>(holders);
        for (var grew = true; grew;)
        {
            grew = false;
            foreach (var (pid, parent) in parents)
            {
                if (!found.Contains(pid) && found.Contains(parent))
                {
                    grew = found.Add(pid);
                }
            }
        }
        return new Traces([.. found.Order()], MountsUnder(prefix));
    }

    /// <summary>SIGKILLs every process found and waits (up to <paramref name="timeout"/>) until they are gone.</summary>
    public static async Task KillAsync(IReadOnlyList<int> pids, TimeSpan timeout)
    {
        var processes = new List<Process>();
        foreach (var pid in pids)
        {
            try
            {
                var p = Process.GetProcessById(pid);
                p.Kill();
                processes.Add(p);
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                // already gone
            }
        }
        using var cts = new CancellationTokenSource(timeout);
        foreach (var p in processes)
        {
            try
            {
                await p.WaitForExitAsync(cts.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or InvalidOperationException)
            {
            }
            finally
            {
                p.Dispose();
            }
        }
    }

    private static bool Holds(int pid, string prefix)
    {
        foreach (var link in SafeEntries($"/proc/{pid}/fd").Append($"/proc/{pid}/cwd"))
        {
            try
            {
                if (new FileInfo(link).LinkTarget is { } target && target.StartsWith(prefix, StringComparison.Ordinal))
                {
                    return true;
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
        return false;
    }

    private static int? ParentOf(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // pid (comm) state ppid ...: comm may hold spaces and parentheses, so read after the last ')'.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return fields.Length > 1 && int.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out var ppid) ? ppid : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentOutOfRangeException)
        {
            return null;
        }
    }

    private static List<string> MountsUnder(string prefix)
    {
        var mounts = new List<string>();
        try
        {
            foreach (var line in File.ReadLines("/proc/self/mountinfo"))
            {
                var fields = line.Split(' ');
                if (fields.Length > 4 && Unescape(fields[4]) is var point && point.StartsWith(prefix, StringComparison.Ordinal))
                {
                    mounts.Add(point);
                }
            }
        }
        catch (IOException)
        {
        }
        return mounts;
    }

    private static string Unescape(string field) =>
        field.Replace("\\040", " ", StringComparison.Ordinal).Replace("\\011", "\t", StringComparison.Ordinal)
            .Replace("\\012", "\n", StringComparison.Ordinal).Replace("\\134", "\\", StringComparison.Ordinal);

    private static IEnumerable<string> SafeEntries(string directory)
    {
        try
        {
            return [.. Directory.EnumerateFileSystemEntries(directory)];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }
}
