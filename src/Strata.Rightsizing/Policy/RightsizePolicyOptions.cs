namespace Strata.Rightsizing.Policy;

/// <summary>The policy's hysteresis, cooldown and OOM rule; validated by <see cref="Validate"/>.</summary>
public sealed record RightsizePolicyOptions
{
    /// <summary>A limit is "off" when it differs from its target by more than this fraction of the limit.</summary>
    public double Threshold { get; init; } = 0.10;

    /// <summary>How many consecutive evaluations a limit must be off before it is changed.</summary>
    public int ConsecutiveSamples { get; init; } = 6;

    /// <summary>At most one change per cooldown (an OOM bump excepted).</summary>
    public TimeSpan Cooldown { get; init; } = TimeSpan.FromHours(1);

    /// <summary>An OOM kill raises memory to the larger of limit × this and the recommendation's upper bound (Autopilot, VPA: 1.2).</summary>
    public double OomBumpRatio { get; init; } = 1.2;

    /// <summary>
    /// An OOM bump never raises memory beyond limit × this, however wide the upper bound: a young history's bound is
    /// widened many times over (×3 at 12 h and more below), and an early OOM kill would otherwise lift the limit to
    /// the host's memory. Repeated kills keep raising it, this much at a time.
    /// </summary>
    public double OomBumpMaxRatio { get; init; } = 2.0;

    /// <summary>
    /// When set, a limit is lowered only once it is above the recommendation's upper bound (VPA's updater rule), so a
    /// short history, whose upper bound is widened, does not shrink a limit; raising still follows <see cref="Threshold"/>.
    /// </summary>
    public bool ShrinkOnlyAboveUpperBound { get; init; }

    /// <summary>
    /// A memory limit is lowered only once the history is at least this long (null: at any age). Memory is sized on
    /// daily peaks (<see cref="RecommenderOptions.MemoryPeakInterval"/>): before a whole day has been seen, the day's
    /// peak is not known, and a limit lowered to the morning's peak is OOM-killed by the afternoon's. Raising is not held.
    /// </summary>
    public TimeSpan? MemoryShrinkAfter { get; init; }

    /// <summary>
    /// What the daemon runs with (<c>stratad</c>'s defaults) and the benchmark replays by default: the defaults above,
    /// a limit lowered only above the upper bound, and memory lowered only after a day of history.
    /// </summary>
    public static RightsizePolicyOptions Daemon { get; } = new() { ShrinkOnlyAboveUpperBound = true, MemoryShrinkAfter = TimeSpan.FromHours(24) };

    /// <summary>Throws an ArgumentException naming the setting that is out of range.</summary>
    public void Validate()
    {
        if (!(Threshold is >= 0 and < 1))
        {
            throw new ArgumentException($"Threshold is {Threshold}; use a fraction in [0, 1)", nameof(Threshold));
        }
        if (ConsecutiveSamples < 1)
        {
            throw new ArgumentException($"ConsecutiveSamples is {ConsecutiveSamples}; use 1 or more", nameof(ConsecutiveSamples));
        }
        if (Cooldown < TimeSpan.Zero)
        {
            throw new ArgumentException($"Cooldown is {Cooldown}; use zero or more", nameof(Cooldown));
        }
        if (!(OomBumpRatio > 1))
        {
            throw new ArgumentException($"OomBumpRatio is {OomBumpRatio}; use a ratio above 1", nameof(OomBumpRatio));
        }
        if (MemoryShrinkAfter < TimeSpan.Zero)
        {
            throw new ArgumentException($"MemoryShrinkAfter is {MemoryShrinkAfter}; use zero or more (or none)", nameof(MemoryShrinkAfter));
        }
        if (!(OomBumpMaxRatio >= OomBumpRatio))
        {
            throw new ArgumentException($"OomBumpMaxRatio is {OomBumpMaxRatio}; use a ratio of at least OomBumpRatio ({OomBumpRatio})", nameof(OomBumpMaxRatio));
        }
    }
}
