using Strata.Rightsizing;

namespace Strata.Rightsizing.Tests;

/// <summary>Sample streams for the tests: fixed start, fixed step, values from a function of the elapsed time.</summary>
internal static class Samples
{
    public const double Mib = 1 << 20;

    public static readonly DateTimeOffset Start = new(2026, 3, 2, 0, 0, 0, TimeSpan.Zero);

    public static IEnumerable<UsageSample> Over(TimeSpan length, TimeSpan step, Func<TimeSpan, (double Cpu, double Memory)> usage, DateTimeOffset? from = null)
    {
        var start = from ?? Start;
        for (var t = TimeSpan.Zero; t < length; t += step)
        {
            var (cpu, memory) = usage(t);
            yield return new UsageSample(start + t, cpu, memory);
        }
    }

    public static UsageHistory Feed(this UsageHistory history, IEnumerable<UsageSample> samples)
    {
        foreach (var sample in samples)
        {
            history.Add(sample);
        }
        return history;
    }
}
