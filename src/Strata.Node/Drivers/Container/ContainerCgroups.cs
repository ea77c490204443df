using System.Globalization;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Cgroups;

namespace Strata.Node.Drivers.Container;

/// <summary>
/// Where a container's cgroups are. Normally the runtime owns <c>strata/&lt;id&gt;</c> and applies every limit
/// (pids, cpu quota, cpuset, device allowlist) there. With a memory limit, Strata owns <c>strata/&lt;id&gt;</c>
/// and puts the memory limit on it, and the runtime uses <c>strata/&lt;id&gt;/ctr</c> below: the runtime deletes
/// its own cgroup as the container ends, and with it the kernel's (cgroup v1) OOM counters, while the parent
/// outlives it. Limits are hierarchical, so processes started later with exec are limited as well. (One level
/// is the fast path: every cgroup level costs a mkdir and an rmdir in each v1 hierarchy, ~2-4 ms apiece.)
/// </summary>
public sealed class ContainerCgroups
{
    public const string Leaf = "ctr";
    private const string Root = "/sys/fs/cgroup";

    public ContainerCgroups(string instanceId, string parent = CgroupSet.DefaultParent)
    {
        Relative = Path.Combine(parent, instanceId);
    }

    /// <summary><c>PARENT/&lt;id&gt;</c> (the node's cgroup parent, <see cref="NodeScope.CgroupParent"/>), relative to each hierarchy.</summary>
    public string Relative { get; }

    /// <summary>The runtime's <c>linux.cgroupsPath</c>: below Strata's memory parent when there is one.</summary>
    public string RuntimePath(bool nested) => "/" + Relative + (nested ? "/" + Leaf : "");

    private static bool Unified => CgroupSet.IsUnifiedOnly(Root);

    /// <summary>
    /// <c>PARENT/&lt;id&gt;</c> in the memory hierarchy: Strata's memory parent when the container was created with a
    /// limit, else the runtime's own cgroup. Either way it holds the limit in force and the OOM counter.
    /// </summary>
    public string MemoryDirectory => Dir("memory");

    private string Dir(string controller) => Unified ? Path.Combine(Root, Relative) : Path.Combine(Root, controller, Relative);

    /// <summary>Every directory of this instance in any hierarchy (the runtime creates the parent in all of them).</summary>
    private IEnumerable<string> AllDirectories()
    {
        if (Unified)
        {
            yield return Path.Combine(Root, Relative);
            yield break;
        }
        foreach (var hierarchy in Directory.EnumerateDirectories(Root))
        {
            var dir = Path.Combine(hierarchy, Relative);
            if (Directory.Exists(dir) && new DirectoryInfo(hierarchy).LinkTarget is null)
            {
                yield return dir;
            }
        }
    }

    /// <summary>Host PIDs of every process of the container (including exec'd ones).</summary>
    public IReadOnlyList<int> Processes()
    {
        var pids = new SortedSet<int>();
        var top = Dir("pids");
        if (!Directory.Exists(top))
        {
            return [];
        }
        foreach (var dir in Directory.EnumerateDirectories(top, "*", SearchOption.AllDirectories).Prepend(top))
        {
            try
            {
                foreach (var line in File.ReadLines(Path.Combine(dir, "cgroup.procs")))
                {
                    if (int.TryParse(line, NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
                    {
                        pids.Add(pid);
                    }
                }
            }
            catch (IOException)
            {
                // the cgroup went away while we read it
            }
        }
        return [.. pids];
    }

    public long CpuNanoseconds()
    {
        if (Unified)
        {
            return ReadKeyed(Path.Combine(Dir("cpu"), "cpu.stat"), "usage_usec") * 1000;
        }
        return ReadLong(Path.Combine(Dir("cpuacct"), "cpuacct.usage")) ?? 0;
    }

    /// <summary>Memory in use without the inactive page cache (what docker/podman show).</summary>
    public long MemoryBytes()
    {
        var dir = Dir("memory");
        if (Unified)
        {
            return Math.Max(0, (ReadLong(Path.Combine(dir, "memory.current")) ?? 0) - ReadKeyed(Path.Combine(dir, "memory.stat"), "inactive_file"));
        }
        return Math.Max(0, (ReadLong(Path.Combine(dir, "memory.usage_in_bytes")) ?? 0) - ReadKeyed(Path.Combine(dir, "memory.stat"), "total_inactive_file"));
    }

    public long PidsCurrent() => ReadLong(Path.Combine(Dir("pids"), "pids.current")) ?? 0;

    /// <summary>
    /// Did the memory limit kill the container? cgroup v2 counts OOM kills hierarchically, so the parent's
    /// memory.events says it. On v1 the counter lives in the runtime's cgroup, gone by the time the exit is
    /// seen: a SIGKILL exit (137) that Strata did not send, with the parent's memory high-water mark at the
    /// limit, is taken as an OOM kill.
    /// </summary>
    public bool OomKilled(string? memoryDirectory, ExitStatus exit, bool killedByStrata)
    {
        if (memoryDirectory is null)
        {
            return false;
        }
        if (CgroupSet.Open([memoryDirectory], memoryDirectory).OomKilled())
        {
            return true;
        }
        if (exit.ExitCode != 137 || killedByStrata || Unified)
        {
            return false;
        }
        var limit = ReadLong(Path.Combine(memoryDirectory, "memory.limit_in_bytes"));
        var peak = ReadLong(Path.Combine(memoryDirectory, "memory.max_usage_in_bytes"));
        return limit is { } l && peak is { } p && p + 256 * 1024 >= l;
    }

    /// <summary>Kills anything left and removes every directory of the instance, deepest first. Idempotent.</summary>
    public Task DeleteAsync() =>
        // rmdir of a v1 cgroup takes milliseconds each; the hierarchies are independent, so each has a task of its own.
        Task.WhenAll(AllDirectories().ToList().Select(top => Task.Run(async () =>
        {
            foreach (var dir in Directory.EnumerateDirectories(top, "*", SearchOption.AllDirectories).OrderByDescending(d => d.Length).Append(top))
            {
                await CgroupMembers.RemoveAsync(dir).ConfigureAwait(false);
            }
        })));

    private static long? ReadLong(string path)
    {
        try
        {
            var text = File.ReadAllText(path).Trim();
            return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static long ReadKeyed(string path, string key)
    {
        try
        {
            foreach (var line in File.ReadLines(path))
            {
                if (line.StartsWith(key + " ", StringComparison.Ordinal)
                    && long.TryParse(line.AsSpan(key.Length + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var v))
                {
                    return v;
                }
            }
        }
        catch (IOException)
        {
        }
        return 0;
    }
}
