using System.Diagnostics;
using Strata.Contracts.Drivers;

namespace Strata.Node.Stats;

/// <summary>
/// How every tier's <c>stats</c> measures CPU use: a reading, a second one a short window later, and the real time
/// between the end of the first and the end of the second.
/// </summary>
public static class StatsWindow
{
    /// <summary>The window of the tiers that read their own counters (process, container, wasm).</summary>
    public static readonly TimeSpan Default = TimeSpan.FromMilliseconds(250);

    /// <summary>Reads twice, <paramref name="window"/> apart.</summary>
    public static async Task<TwoReadings<T>> ReadTwiceAsync<T>(Func<CancellationToken, Task<T>> read, TimeSpan window, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(read);
        var first = await read(cancellationToken).ConfigureAwait(false);
        var t0 = Stopwatch.GetTimestamp();
        await Task.Delay(window, cancellationToken).ConfigureAwait(false);
        var second = await read(cancellationToken).ConfigureAwait(false);
        return new TwoReadings<T>(first, second, Stopwatch.GetElapsedTime(t0));
    }

    /// <summary>Reads twice, <see cref="Default"/> apart, with a reading that does not wait.</summary>
    public static Task<TwoReadings<T>> ReadTwiceAsync<T>(Func<T> read, CancellationToken cancellationToken) =>
        ReadTwiceAsync(_ => Task.FromResult(read()), Default, cancellationToken);
}

/// <summary>Two readings of <see cref="StatsWindow"/> and the real time between them.</summary>
public readonly record struct TwoReadings<T>(T First, T Second, TimeSpan Elapsed)
{
    /// <summary>The CPU part of the stats (time, percent of a core, the window), from each reading's CPU time; the caller adds the rest.</summary>
    public InstanceStats Stats(string name, Func<T, long> cpuNanoseconds)
    {
        ArgumentNullException.ThrowIfNull(cpuNanoseconds);
        var before = cpuNanoseconds(First);
        var after = cpuNanoseconds(Second);
        return new InstanceStats
        {
            Name = name,
            CpuNanoseconds = after,
            CpuPercent = CpuRate.Percent(before, after, Elapsed),
            SampleMilliseconds = (int)Elapsed.TotalMilliseconds,
        };
    }
}
