using Strata.Rightsizing.Policy;

namespace Strata.Control.Usage;

/// <summary>How the daemon samples usage (stratad <c>--usage-interval</c>); validated in one place.</summary>
public sealed record UsageSamplerOptions
{
    /// <summary>Time between two samples of every running instance; 0 turns sampling off.</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How often changed histories are written to the store (and at shutdown).</summary>
    public TimeSpan SaveEvery { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>How long a removed instance's history is kept.</summary>
    public TimeSpan KeepRemoved { get; init; } = TimeSpan.FromDays(7);

    /// <summary>Recent samples kept in memory per instance for <c>strata stats --history</c> (360 = an hour at 10 s).</summary>
    public int RecentSamples { get; init; } = 360;

    /// <summary>
    /// The right-sizing policy of instances in <c>auto</c> mode (<see cref="RightsizePolicyOptions.Daemon"/>, which the
    /// benchmark replays too). The daemon lowers a limit only once it is above the recommendation's upper bound
    /// (<see cref="RightsizePolicyOptions.ShrinkOnlyAboveUpperBound"/>), so a young instance, whose upper bound is still
    /// wide, keeps its limits, and memory only after a day of history
    /// (<see cref="RightsizePolicyOptions.MemoryShrinkAfter"/>); raising follows the 10 % threshold.
    /// </summary>
    public RightsizePolicyOptions Policy { get; init; } = RightsizePolicyOptions.Daemon;

    /// <summary>The node's name, a label of the per-instance metrics.</summary>
    public string Node { get; init; } = "local";

    public void Validate()
    {
        if (Interval < TimeSpan.Zero || (Interval > TimeSpan.Zero && Interval < TimeSpan.FromMilliseconds(100)) || Interval > TimeSpan.FromHours(1))
        {
            throw new ArgumentException($"the usage sampling interval {Interval.TotalSeconds} s is outside 0.1 s – 1 h (0 turns sampling off)", nameof(Interval));
        }
        if (SaveEvery <= TimeSpan.Zero)
        {
            throw new ArgumentException($"the usage save interval {SaveEvery.TotalSeconds} s must be positive", nameof(SaveEvery));
        }
        if (KeepRemoved < TimeSpan.Zero)
        {
            throw new ArgumentException($"the retention of removed instances' histories {KeepRemoved} must not be negative", nameof(KeepRemoved));
        }
        Policy.Validate();
        if (RecentSamples is < 1 or > 100_000)
        {
            throw new ArgumentException($"recent samples per instance {RecentSamples} is outside 1–100,000", nameof(RecentSamples));
        }
    }
}
