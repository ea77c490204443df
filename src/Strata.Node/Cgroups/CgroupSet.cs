using System.Globalization;
using Strata.Contracts;

namespace Strata.Node.Cgroups;

/// <summary>
/// The cgroups of one instance: cpu, memory and pids limits, and (for the process tier) the tracking of every process
/// the workload starts. On cgroup v1 and hybrid hosts each controller has its own hierarchy
/// (<c>/sys/fs/cgroup/&lt;controller&gt;/strata/&lt;id&gt;</c>); on pure v2 hosts there is one directory
/// (<c>/sys/fs/cgroup/strata/&lt;id&gt;</c>). The workload joins them before it execs (the supervisor writes its pid
/// into every <see cref="ProcsFiles"/> entry), so it never runs unlimited, and whatever it starts stays inside: a
/// process that leaves its process group (<c>setsid</c>, a daemon that detaches) is still found by <see cref="KillAllAsync"/>.
/// </summary>
public sealed class CgroupSet
{
    /// <summary>The node local's parent; a daemon passes its node's (<see cref="NodeScope.CgroupParent"/>).</summary>
    public const string DefaultParent = "strata";
    private const long CfsPeriodMicros = 100_000;

    private readonly string _root;
    private readonly List<string> _directories;

    private CgroupSet(string root, List<string> directories, string? memoryDirectory)
    {
        _root = root;
        _directories = directories;
        MemoryDirectory = memoryDirectory;
    }

    /// <summary>The cgroup.procs files the workload must join.</summary>
    public IReadOnlyList<string> ProcsFiles => [.. _directories.Select(d => Path.Combine(d, "cgroup.procs"))];

    /// <summary>The memory cgroup directory (OOM counters live here).</summary>
    public string? MemoryDirectory { get; }

    public IReadOnlyList<string> Directories => _directories;

    public static bool IsUnifiedOnly(string root = "/sys/fs/cgroup") => File.Exists(Path.Combine(root, "cgroup.controllers"));

    /// <summary>Is there anything to limit? (Creating no cgroup keeps the fast path fast.)</summary>
    public static bool Wanted(ResourceSpec? resources) =>
        resources is not null && (resources.Cpus is not null || resources.MemoryBytes is not null || resources.Pids is not null);

    /// <summary>
    /// Creates the cgroups and applies the limits; on failure removes what it made. With <paramref name="track"/> there
    /// is a cgroup even without a limit — on cgroup v1 the pids hierarchy's, unlimited unless a pids limit is asked —
    /// so every process of the workload can be found and killed (one directory, one write at start: cheap).
    /// </summary>
    public static CgroupSet Create(string name, ResourceSpec resources, string parent = DefaultParent, string root = "/sys/fs/cgroup", bool track = false)
    {
        var created = new List<string>();
        try
        {
            if (IsUnifiedOnly(root))
            {
                var parentDir = Path.Combine(root, parent);
                Directory.CreateDirectory(parentDir);
                TryWrite(Path.Combine(root, "cgroup.subtree_control"), "+cpu +memory +pids");
                TryWrite(Path.Combine(parentDir, "cgroup.subtree_control"), "+cpu +memory +pids");
                var dir = Path.Combine(parentDir, name);
                Directory.CreateDirectory(dir);
                created.Add(dir);
                if (resources.MemoryBytes is { } mem)
                {
                    Write(dir, "memory.max", mem.ToString(CultureInfo.InvariantCulture));
                    TryWrite(Path.Combine(dir, "memory.swap.max"), "0");
                }
                if (resources.Cpus is { } cpus)
                {
                    Write(dir, "cpu.max", $"{(long)(cpus * CfsPeriodMicros)} {CfsPeriodMicros}");
                }
                if (resources.Pids is { } pids)
                {
                    Write(dir, "pids.max", pids.ToString(CultureInfo.InvariantCulture));
                }
                return new CgroupSet(root, created, dir);
            }

            string? memoryDir = null;
            if (resources.MemoryBytes is { } memory)
            {
                memoryDir = Make(root, "memory", parent, name, created);
                Write(memoryDir, "memory.limit_in_bytes", memory.ToString(CultureInfo.InvariantCulture));
                // Without this, a limited workload could swap instead of being OOM-killed.
                TryWrite(Path.Combine(memoryDir, "memory.memsw.limit_in_bytes"), memory.ToString(CultureInfo.InvariantCulture));
                TryWrite(Path.Combine(memoryDir, "memory.swappiness"), "0");
            }
            if (resources.Cpus is { } c)
            {
                var cpuDir = Make(root, "cpu", parent, name, created);
                Write(cpuDir, "cpu.cfs_period_us", CfsPeriodMicros.ToString(CultureInfo.InvariantCulture));
                Write(cpuDir, "cpu.cfs_quota_us", ((long)(c * CfsPeriodMicros)).ToString(CultureInfo.InvariantCulture));
            }
            if (resources.Pids is not null || track)
            {
                var pidsDir = Make(root, "pids", parent, name, created);
                if (resources.Pids is { } p)
                {
                    Write(pidsDir, "pids.max", p.ToString(CultureInfo.InvariantCulture));
                }
            }
            return new CgroupSet(root, created, memoryDir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            RemoveCreated(created);
            throw new StrataException(ErrorKind.Unavailable,
                $"could not set resource limits through cgroups ({e.Message}); run stratad as root on a host with the cpu, memory and pids controllers, or drop --cpus/--memory/--pids", "resources", e);
        }
    }

    /// <summary>Reopens the cgroups of an instance (after a daemon restart) from their directories.</summary>
    public static CgroupSet Open(IReadOnlyList<string> directories, string? memoryDirectory, string root = "/sys/fs/cgroup") =>
        new(root, [.. directories], memoryDirectory);

    /// <summary>
    /// Removes <paramref name="parent"/> from every hierarchy where it holds no cgroup of an instance any more (rmdir
    /// of a cgroup with children or processes fails, and is left alone). Returns how many directories went.
    /// </summary>
    public static int RemoveParentIfEmpty(string parent, string root = "/sys/fs/cgroup")
    {
        var dirs = IsUnifiedOnly(root) ? [Path.Combine(root, parent)]
            : Directory.Exists(root) ? Directory.EnumerateDirectories(root).Where(h => new DirectoryInfo(h).LinkTarget is null).Select(h => Path.Combine(h, parent)).ToList()
            : [];
        var removed = 0;
        foreach (var dir in dirs.Where(Directory.Exists))
        {
            try
            {
                Directory.Delete(dir);
                removed++;
            }
            catch (IOException)
            {
                // instances left in it (they keep running while the daemon is down)
            }
        }
        return removed;
    }

    private static string Make(string root, string controller, string parent, string name, List<string> created)
    {
        var hierarchy = Path.Combine(root, controller);
        if (!Directory.Exists(hierarchy))
        {
            throw new IOException($"the {controller} cgroup controller is not mounted at {hierarchy}");
        }
        var dir = Path.Combine(hierarchy, parent, name);
        Directory.CreateDirectory(dir);
        created.Add(dir);
        return dir;
    }

    private static void Write(string dir, string file, string value) => File.WriteAllText(Path.Combine(dir, file), value);

    private static void TryWrite(string path, string value)
    {
        try
        {
            File.WriteAllText(path, value);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    /// <summary>True if the kernel OOM-killed something in this cgroup.</summary>
    public bool OomKilled() => OomKills() > 0;

    /// <summary>How many processes the kernel's OOM killer has killed in this cgroup (<c>oom_kill</c>; 0 when unknown).</summary>
    public long OomKills() => MemoryDirectory is null ? 0 : ReadOomKills(MemoryDirectory);

    /// <summary>The <c>oom_kill</c> counter of a memory cgroup directory (v1 <c>memory.oom_control</c>, v2 <c>memory.events</c>).</summary>
    public static long ReadOomKills(string memoryDirectory)
    {
        foreach (var file in new[] { "memory.oom_control", "memory.events" })
        {
            var path = Path.Combine(memoryDirectory, file);
            try
            {
                foreach (var line in File.ReadLines(path))
                {
                    var parts = line.Split(' ');
                    if (parts.Length == 2 && parts[0] == "oom_kill" && long.TryParse(parts[1], CultureInfo.InvariantCulture, out var n))
                    {
                        return n;
                    }
                }
            }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
            {
            }
        }
        return 0;
    }

    /// <summary>Host PIDs of the processes in the first of these cgroups that lists any (every process of the workload joins each).</summary>
    public IReadOnlyList<int> Processes()
    {
        foreach (var dir in _directories)
        {
            try
            {
                var pids = File.ReadLines(Path.Combine(dir, "cgroup.procs"))
                    .Select(l => int.TryParse(l, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) ? pid : 0).Where(p => p > 0).ToList();
                if (pids.Count > 0)
                {
                    return pids;
                }
            }
            catch (IOException)
            {
                // gone
            }
        }
        return [];
    }

    /// <summary>CPU time of the cgroup in nanoseconds where a hierarchy counts it (v2 <c>cpu.stat</c>, v1 <c>cpuacct.usage</c>); null otherwise.</summary>
    public long? CpuNanoseconds()
    {
        foreach (var dir in _directories)
        {
            if (ReadKeyed(Path.Combine(dir, "cpu.stat"), "usage_usec") is { } usec)
            {
                return usec * 1000;
            }
            if (ReadNumber(Path.Combine(dir, "cpuacct.usage")) is { } ns)
            {
                return ns;
            }
        }
        return null;
    }

    /// <summary>Memory in use without the inactive page cache (v1 and v2), or null without a memory cgroup.</summary>
    public static long? ReadMemoryInUse(string memoryDirectory)
    {
        if (ReadNumber(Path.Combine(memoryDirectory, "memory.current")) is { } current)
        {
            return Math.Max(0, current - (ReadKeyed(Path.Combine(memoryDirectory, "memory.stat"), "inactive_file") ?? 0));
        }
        return ReadNumber(Path.Combine(memoryDirectory, "memory.usage_in_bytes")) is { } usage
            ? Math.Max(0, usage - (ReadKeyed(Path.Combine(memoryDirectory, "memory.stat"), "total_inactive_file") ?? 0))
            : null;
    }

    /// <summary>The memory limit in force (v1 <c>memory.limit_in_bytes</c>, v2 <c>memory.max</c>); null when unlimited.</summary>
    public static long? ReadMemoryLimit(string memoryDirectory)
    {
        var limit = ReadNumber(Path.Combine(memoryDirectory, "memory.limit_in_bytes")) ?? ReadNumber(Path.Combine(memoryDirectory, "memory.max"));
        return limit is { } l && l < (1L << 60) ? l : null; // v1 writes "unlimited" as a page-rounded long.MaxValue, v2 as "max"
    }

    private static long? ReadNumber(string path)
    {
        try
        {
            return long.TryParse(File.ReadAllText(path).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static long? ReadKeyed(string path, string key)
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
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        return null;
    }

    /// <summary>
    /// SIGKILL to every process in the cgroups (the cgroups stay), round after round until none is left or
    /// <paramref name="timeout"/> (default 2 s) has passed; true when there was one. See <see cref="CgroupMembers"/>.
    /// </summary>
    public Task<bool> KillAllAsync(TimeSpan? timeout = null) => CgroupMembers.KillAllAsync(_directories, timeout ?? CgroupMembers.KillTimeout);

    /// <summary>Kills what is left inside and removes the directories, the last made first. Idempotent.</summary>
    public async Task DeleteAsync()
    {
        foreach (var dir in Enumerable.Reverse(_directories))
        {
            await CgroupMembers.RemoveAsync(dir).ConfigureAwait(false);
        }
    }

    /// <summary>Undoes a create that failed part way: its directories are new and hold no process, so rmdir succeeds at once.</summary>
    private static void RemoveCreated(List<string> created)
    {
        foreach (var dir in Enumerable.Reverse(created))
        {
            try
            {
                Directory.Delete(dir);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
    }
}
