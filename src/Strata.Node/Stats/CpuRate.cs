namespace Strata.Node.Stats;

/// <summary>CPU use between two readings of a cumulative CPU time, as every tier's <c>stats</c> shows it.</summary>
public static class CpuRate
{
    /// <summary>Percent of one core used between the readings (100 = one core busy), to one decimal; never negative.</summary>
    public static double Percent(long cpuNanosecondsBefore, long cpuNanosecondsAfter, TimeSpan elapsed) =>
        Math.Round(Math.Max(0, cpuNanosecondsAfter - cpuNanosecondsBefore) / (elapsed.TotalMilliseconds * 1e6) * 100, 1);
}
