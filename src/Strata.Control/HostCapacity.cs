using System.Globalization;

namespace Strata.Control;

/// <summary>
/// The size of this host: the CPUs the daemon may use and the memory the kernel reports (<c>MemTotal</c>). No
/// single instance may ask for more (<see cref="SpecValidator"/>); <c>info</c> reports the same numbers.
/// </summary>
public sealed record HostCapacity(int Cpus, long MemoryBytes)
{
    /// <summary>Read once: neither changes while the daemon runs.</summary>
    public static HostCapacity Current { get; } = new(Environment.ProcessorCount, ReadMemTotal());

    /// <summary>
    /// <c>MemTotal</c> of <c>/proc/meminfo</c> in bytes, or <see cref="long.MaxValue"/> where it cannot be read
    /// (then nothing is refused for its size).
    /// </summary>
    public static long ReadMemTotal(string path = "/proc/meminfo")
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return long.MaxValue;
        }
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith("MemTotal:", StringComparison.Ordinal)
                && long.TryParse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], NumberStyles.None, CultureInfo.InvariantCulture, out var kib))
            {
                return kib * 1024;
            }
        }
        return long.MaxValue;
    }
}
