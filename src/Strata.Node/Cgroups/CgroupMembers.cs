using System.Globalization;
using Strata.Node.Supervision;

namespace Strata.Node.Cgroups;

/// <summary>
/// Kills every process in a set of cgroup directories, one implementation for the daemon (<see cref="CgroupSet"/>)
/// and the supervisor (which ends what its workload left behind when the workload's main process ends). A round reads
/// each <c>cgroup.procs</c> and sends SIGKILL to every PID in it (on cgroup v2 <c>cgroup.kill</c> does it in one write,
/// forks in flight included). A process forking meanwhile puts its child in the same cgroup, so rounds repeat until a
/// read finds nobody; a killed process leaves the list once it has exited.
/// </summary>
public static class CgroupMembers
{
    /// <summary>How long the rounds go on by default (a process in uninterruptible sleep dies when the kernel lets it).</summary>
    public static readonly TimeSpan KillTimeout = TimeSpan.FromSeconds(2);

    private const int RoundPauseMs = 2;
    private const int RemoveAttempts = 50;
    private const int RemovePauseMs = 10;

    /// <summary>One round: SIGKILL to every process listed now. Returns how many were listed.</summary>
    public static int KillRound(IEnumerable<string> directories)
    {
        var listed = 0;
        foreach (var dir in directories)
        {
            string[] lines;
            try
            {
                lines = File.ReadAllLines(Path.Combine(dir, "cgroup.procs"));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue; // removed already
            }
            if (lines.Length == 0)
            {
                continue;
            }
            listed += lines.Length;
            if (TryWrite(Path.Combine(dir, "cgroup.kill"), "1"))
            {
                continue;
            }
            foreach (var line in lines)
            {
                if (int.TryParse(line, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && pid > 1)
                {
                    Signals.Send(pid, Signals.SIGKILL);
                }
            }
        }
        return listed;
    }

    /// <summary>Rounds until none is listed or <paramref name="timeout"/> has passed, pausing 2 ms between them. True when there was one.</summary>
    public static bool KillAll(IReadOnlyList<string> directories, TimeSpan timeout)
    {
        var deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        var found = false;
        while (KillRound(directories) > 0)
        {
            found = true;
            if (Environment.TickCount64 >= deadline)
            {
                break;
            }
            Thread.Sleep(RoundPauseMs);
        }
        return found;
    }

    /// <summary><see cref="KillAll"/> without holding a thread between rounds.</summary>
    public static async Task<bool> KillAllAsync(IReadOnlyList<string> directories, TimeSpan timeout)
    {
        var deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        var found = false;
        while (KillRound(directories) > 0)
        {
            found = true;
            if (Environment.TickCount64 >= deadline)
            {
                break;
            }
            await Task.Delay(RoundPauseMs).ConfigureAwait(false);
        }
        return found;
    }

    /// <summary>
    /// Kills what is in <paramref name="directory"/> and removes it. rmdir fails (EBUSY) until the killed tasks are
    /// reaped, so it tries again every 10 ms, for half a second at most, without holding a thread meanwhile; a cgroup
    /// still busy then stays. Idempotent.
    /// </summary>
    public static async Task RemoveAsync(string directory)
    {
        for (var attempt = 0; attempt < RemoveAttempts && Directory.Exists(directory); attempt++)
        {
            try
            {
                KillRound([directory]);
                Directory.Delete(directory);
                return;
            }
            catch (IOException) when (attempt < RemoveAttempts - 1)
            {
                await Task.Delay(RemovePauseMs).ConfigureAwait(false);
            }
            catch (IOException)
            {
            }
        }
    }

    private static bool TryWrite(string path, string value)
    {
        if (!File.Exists(path))
        {
            return false; // cgroup v1, or a v2 kernel before 5.14
        }
        try
        {
            File.WriteAllText(path, value);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
