using Strata.Contracts.Drivers;

namespace Strata.Node.Cgroups;

/// <summary>
/// What the live resize of the process and container tiers shares (docs/rightsizing.md, "Live resize"): the check of
/// the request, the instance's cgroups found from its handle, and the limits written where the instance has a cgroup
/// for them. Each tier then rewrites the file every start reads (config.json, spec.json) whole with
/// <see cref="Strata.Contracts.Host.AtomicFile"/>, so the next start keeps the new limits.
/// </summary>
internal static class CgroupResize
{
    /// <summary>The smallest memory limit a resize sets (the spec's minimum).</summary>
    public const long MinimumMemoryBytes = TierResizeRange.CgroupMinimumMemoryBytes;

    /// <summary><see cref="CgroupLimits.Validate"/> with the smallest memory limit of these tiers.</summary>
    public static void Validate(long? memoryBytes, double? cpus) => CgroupLimits.Validate(memoryBytes, cpus, MinimumMemoryBytes);

    /// <summary>The instance's cgroup directories, as its handle keeps them (one a line under <paramref name="key"/>).</summary>
    public static string[] Directories(IReadOnlyDictionary<string, string> handleData, string key) =>
        handleData.TryGetValue(key, out var dirs) ? dirs.Split('\n') : [];

    /// <summary>The cgroup v1 cpu controller's directory among <paramref name="directories"/> (alone or joined with cpuacct).</summary>
    public static string? CpuDirectory(IEnumerable<string> directories) =>
        directories.FirstOrDefault(x => x.Contains("/cpu/", StringComparison.Ordinal) || x.Contains("/cpu,cpuacct/", StringComparison.Ordinal));

    /// <summary>
    /// Writes the memory limit into <paramref name="memoryDirectory"/> and the CPU quota into
    /// <paramref name="cpuDirectory"/>, each where it is given. Returns what was asked and had no directory to take
    /// it (for the runtime to set), null for what was written or not asked.
    /// </summary>
    public static (long? MemoryBytes, double? Cpus) Write(string? memoryDirectory, string? cpuDirectory, long? memoryBytes, double? cpus)
    {
        if (memoryBytes is { } m && memoryDirectory is not null)
        {
            CgroupLimits.SetMemory(memoryDirectory, m);
        }
        if (cpus is { } c && cpuDirectory is not null)
        {
            CgroupLimits.SetCpus(cpuDirectory, c);
        }
        return (memoryDirectory is null ? memoryBytes : null, cpuDirectory is null ? cpus : null);
    }
}
