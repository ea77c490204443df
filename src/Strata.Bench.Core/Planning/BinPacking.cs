namespace Strata.Bench.Core.Planning;

/// <summary>Something to pack: CPU in cores and memory in bytes.</summary>
public readonly record struct PackItem(string Id, double Cpu, long MemoryBytes);

/// <summary>The size of every bin (a host, or a VM on a host).</summary>
public readonly record struct BinSize(double Cpu, long MemoryBytes)
{
    public bool Holds(double cpu, long memory) => cpu <= Cpu + Epsilon && memory <= MemoryBytes;

    /// <summary>CPU sums of decimal cores drift by a few ulps; a bin is full at its size, not at its size minus rounding.</summary>
    internal const double Epsilon = 1e-9;
}

/// <summary>One filled bin: the items in it and what they use.</summary>
public sealed record PackedBin(IReadOnlyList<PackItem> Items, double Cpu, long MemoryBytes);

/// <summary>The bins used, and the items no empty bin could hold.</summary>
public sealed record PackResult(IReadOnlyList<PackedBin> Bins, IReadOnlyList<PackItem> TooLarge)
{
    public int Count => Bins.Count;
}

/// <summary>
/// Two-dimensional bin packing (CPU and memory), first-fit decreasing: items sorted by their larger share of a bin
/// (then the smaller share, then id, so the result is deterministic), each put in the first bin where both
/// dimensions still fit, a new bin opened when none does. An item larger than an empty bin goes to
/// <see cref="PackResult.TooLarge"/>. Pure; O(items × bins).
/// </summary>
public static class BinPacking
{
    public static PackResult FirstFitDecreasing(IEnumerable<PackItem> items, BinSize bin)
    {
        ArgumentNullException.ThrowIfNull(items);
        if (bin.Cpu <= 0 || bin.MemoryBytes <= 0)
        {
            throw new ArgumentException($"a bin needs CPU and memory above 0 (got {bin.Cpu} cores, {bin.MemoryBytes} bytes)", nameof(bin));
        }
        var sorted = items.OrderByDescending(i => Math.Max(Share(i.Cpu, bin.Cpu), Share(i.MemoryBytes, bin.MemoryBytes)))
            .ThenByDescending(i => Math.Min(Share(i.Cpu, bin.Cpu), Share(i.MemoryBytes, bin.MemoryBytes)))
            .ThenBy(i => i.Id, StringComparer.Ordinal)
            .ToList();
        var bins = new List<(List<PackItem> Items, double Cpu, long Memory)>();
        var tooLarge = new List<PackItem>();
        foreach (var item in sorted)
        {
            if (item.Cpu < 0 || item.MemoryBytes < 0)
            {
                throw new ArgumentException($"item '{item.Id}' has a negative size", nameof(items));
            }
            if (!bin.Holds(item.Cpu, item.MemoryBytes))
            {
                tooLarge.Add(item);
                continue;
            }
            var placed = false;
            for (var b = 0; b < bins.Count && !placed; b++)
            {
                var (list, cpu, memory) = bins[b];
                if (bin.Holds(cpu + item.Cpu, memory + item.MemoryBytes))
                {
                    list.Add(item);
                    bins[b] = (list, cpu + item.Cpu, memory + item.MemoryBytes);
                    placed = true;
                }
            }
            if (!placed)
            {
                bins.Add(([item], item.Cpu, item.MemoryBytes));
            }
        }
        return new PackResult([.. bins.Select(b => new PackedBin(b.Items, b.Cpu, b.Memory))], tooLarge);
    }

    /// <summary>No packing can use fewer bins than this: the larger of ⌈Σ cpu / bin cpu⌉ and ⌈Σ memory / bin memory⌉.</summary>
    public static int LowerBound(IEnumerable<PackItem> items, BinSize bin)
    {
        double cpu = 0, memory = 0;
        foreach (var i in items)
        {
            cpu += i.Cpu;
            memory += i.MemoryBytes;
        }
        return (int)Math.Max(Math.Ceiling((cpu / bin.Cpu) - BinSize.Epsilon), Math.Ceiling(memory / bin.MemoryBytes));
    }

    private static double Share(double value, double size) => value / size;
}
