using System.Globalization;

namespace Strata.Scheduler;

/// <summary>
/// An amount of the four resources the scheduler counts: CPU in millicores (1000 = one core), memory and disk in
/// bytes, and process ids. Used for a node's capacity, what is free on it, and what a request asks for.
/// </summary>
public readonly record struct Resources(long CpuMillis, long MemoryBytes, long DiskBytes = 0, long Pids = 0)
{
    public static Resources operator +(Resources a, Resources b) =>
        new(a.CpuMillis + b.CpuMillis, a.MemoryBytes + b.MemoryBytes, a.DiskBytes + b.DiskBytes, a.Pids + b.Pids);

    public static Resources operator -(Resources a, Resources b) =>
        new(a.CpuMillis - b.CpuMillis, a.MemoryBytes - b.MemoryBytes, a.DiskBytes - b.DiskBytes, a.Pids - b.Pids);

    /// <summary>True when every dimension of <paramref name="asked"/> fits in this amount.</summary>
    public bool Covers(Resources asked) =>
        asked.CpuMillis <= CpuMillis && asked.MemoryBytes <= MemoryBytes && asked.DiskBytes <= DiskBytes && asked.Pids <= Pids;

    public override string ToString() =>
        $"cpu {Cpu(CpuMillis)}, memory {Bytes(MemoryBytes)}, disk {Bytes(DiskBytes)}, pids {Pids.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>Millicores as people read them: <c>2</c>, <c>0.5</c>, <c>1.25</c> cores.</summary>
    public static string Cpu(long millis) =>
        (millis / 1000.0).ToString("0.###", CultureInfo.InvariantCulture) + (millis == 1000 ? " core" : " cores");

    /// <summary>Bytes in the largest power-of-1024 unit that keeps the number at least 1: <c>512 MiB</c>, <c>1.5 GiB</c>.</summary>
    public static string Bytes(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double value = bytes;
        var unit = 0;
        while (Math.Abs(value) >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }
        return value.ToString("0.##", CultureInfo.InvariantCulture) + " " + units[unit];
    }
}
