using System.Globalization;
using Strata.Contracts;
using Strata.Contracts.Drivers;

namespace Strata.Node.Cgroups;

/// <summary>
/// Changes the memory and CPU limits of an existing cgroup in place (live resize of the process and container tiers,
/// docs/rightsizing.md). cgroup v1 and v2 files alike; a write the kernel refuses is a clear error naming the limit.
/// </summary>
public static class CgroupLimits
{
    public const long CfsPeriodMicros = 100_000;

    /// <summary>A v1 memory limit at or above this is "unlimited" (the kernel's page-rounded LONG_MAX).</summary>
    private const long Unlimited = long.MaxValue / 2;

    /// <summary>
    /// Sets the memory limit of a memory cgroup directory. On v1 the memory+swap limit never drops below the memory
    /// limit, so when growing it is raised first and when shrinking it is lowered last. A limit below what the
    /// cgroup uses and cannot reclaim is refused by the kernel (EBUSY): that is an error, the old limit stays.
    /// </summary>
    public static void SetMemory(string directory, long bytes)
    {
        var value = bytes.ToString(CultureInfo.InvariantCulture);
        try
        {
            var max = Path.Combine(directory, "memory.max");
            if (File.Exists(max))
            {
                File.WriteAllText(max, value);
                return;
            }
            var limit = Path.Combine(directory, "memory.limit_in_bytes");
            var memsw = Path.Combine(directory, "memory.memsw.limit_in_bytes");
            var hasMemsw = File.Exists(memsw);
            if (hasMemsw && ReadMemoryLimit(directory) is { } current && bytes > current)
            {
                File.WriteAllText(memsw, value);
                File.WriteAllText(limit, value);
            }
            else
            {
                File.WriteAllText(limit, value);
                if (hasMemsw)
                {
                    File.WriteAllText(memsw, value);
                }
            }
        }
        catch (IOException e)
        {
            throw StrataException.Conflict($"the memory limit cannot be set to {bytes >> 20} MiB now: the kernel refused it ({e.Message}); the workload uses more than that and it cannot be reclaimed; give a larger limit");
        }
        catch (UnauthorizedAccessException e)
        {
            throw new StrataException(ErrorKind.Unavailable, $"the memory limit cannot be changed: {e.Message}; stratad must run as root to change cgroup limits", "memoryBytes", e);
        }
    }

    /// <summary>The CFS quota, in microseconds per <see cref="CfsPeriodMicros"/>, that gives <paramref name="cpus"/> cores.</summary>
    public static long CfsQuota(double cpus) => (long)Math.Round(cpus * CfsPeriodMicros);

    /// <summary>Sets the CPU quota (<paramref name="cpus"/> cores per period) of a cpu cgroup directory.</summary>
    public static void SetCpus(string directory, double cpus)
    {
        var quota = CfsQuota(cpus).ToString(CultureInfo.InvariantCulture);
        var period = CfsPeriodMicros.ToString(CultureInfo.InvariantCulture);
        try
        {
            var max = Path.Combine(directory, "cpu.max");
            if (File.Exists(max))
            {
                File.WriteAllText(max, quota + " " + period);
                return;
            }
            File.WriteAllText(Path.Combine(directory, "cpu.cfs_period_us"), period);
            File.WriteAllText(Path.Combine(directory, "cpu.cfs_quota_us"), quota);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StrataException(ErrorKind.Unavailable, $"the CPU limit cannot be changed: {e.Message}", "cpus", e);
        }
    }

    /// <summary>The memory limit of a memory cgroup directory; null when unlimited or unreadable.</summary>
    public static long? ReadMemoryLimit(string directory)
    {
        foreach (var file in new[] { "memory.max", "memory.limit_in_bytes" })
        {
            try
            {
                var text = File.ReadAllText(Path.Combine(directory, file)).Trim();
                return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v < Unlimited ? v : null;
            }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
            {
            }
            catch (IOException)
            {
                return null;
            }
        }
        return null;
    }

    /// <summary>The CPU quota of a cpu cgroup directory in cores; null when unlimited or unreadable.</summary>
    public static double? ReadCpus(string directory)
    {
        try
        {
            var max = Path.Combine(directory, "cpu.max");
            if (File.Exists(max))
            {
                var parts = File.ReadAllText(max).Trim().Split(' ');
                return parts.Length == 2 && long.TryParse(parts[0], CultureInfo.InvariantCulture, out var q) && long.TryParse(parts[1], CultureInfo.InvariantCulture, out var p) && p > 0
                    ? (double)q / p : null;
            }
            var quota = long.Parse(File.ReadAllText(Path.Combine(directory, "cpu.cfs_quota_us")).Trim(), CultureInfo.InvariantCulture);
            var period = long.Parse(File.ReadAllText(Path.Combine(directory, "cpu.cfs_period_us")).Trim(), CultureInfo.InvariantCulture);
            return quota > 0 && period > 0 ? (double)quota / period : null;
        }
        catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Checks a resize request against what any cgroup can take; throws 400 naming the field.</summary>
    public static void Validate(long? memoryBytes, double? cpus, long minimumMemoryBytes)
    {
        if (memoryBytes is { } m && m < minimumMemoryBytes)
        {
            throw StrataException.Invalid("memoryBytes", $"{m} bytes is below the smallest memory limit, {minimumMemoryBytes >> 20} MiB; give at least that");
        }
        if (cpus is { } c && (double.IsNaN(c) || c < TierResizeRange.CgroupCpuStep || c > Environment.ProcessorCount))
        {
            throw StrataException.Invalid("cpus", string.Create(CultureInfo.InvariantCulture,
                $"{c} CPUs is out of range; give {TierResizeRange.CgroupCpuStep} to {Environment.ProcessorCount} (this host's CPUs), in hundredths of a core"));
        }
        if (memoryBytes is null && cpus is null)
        {
            throw StrataException.Invalid("memoryBytes", "give the new memory size, the new vCPU count, or both");
        }
    }
}
