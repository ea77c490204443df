using System.Globalization;

namespace Strata.Rightsizing.Policy;

/// <summary>
/// Decides whether to apply a recommendation now. In <see cref="RightsizeMode.Auto"/>: a limit changes only after it
/// has been more than <see cref="RightsizePolicyOptions.Threshold"/> off its target for
/// <see cref="RightsizePolicyOptions.ConsecutiveSamples"/> evaluations in a row, and at most once per cooldown; an
/// OOM kill raises memory at once (Autopilot's rule). <c>off</c> and <c>recommend</c> never apply. Pure: the state
/// goes in and comes out.
/// </summary>
public sealed class RightsizePolicy
{
    public RightsizePolicy(RightsizePolicyOptions? options = null)
    {
        Options = options ?? new RightsizePolicyOptions();
        Options.Validate();
    }

    public RightsizePolicyOptions Options { get; }

    /// <summary>One evaluation (call once per sample or evaluation round).</summary>
    public RightsizeDecision Evaluate(RightsizeMode mode, RightsizeState state, ResourceLimits current, Estimate estimate, DateTimeOffset now)
    {
        if (mode == RightsizeMode.Off)
        {
            return Keep(current, RightsizeReason.Off, "right-sizing is off", state with { ConsecutiveOff = 0 });
        }
        if (!estimate.HasHistory)
        {
            return Keep(current, RightsizeReason.NoHistory, "no usage history yet", state with { ConsecutiveOff = 0 });
        }
        var cpuOff = Off(current.CpuCores, estimate.Cpu);
        var memoryOff = Off(current.MemoryBytes, estimate.Memory);
        if (memoryOff && estimate.Memory.Target < current.MemoryBytes && Options.MemoryShrinkAfter is { } young && estimate.Span is { } span && span < young)
        {
            memoryOff = false;
            if (!cpuOff)
            {
                return Keep(current, RightsizeReason.YoungHistory,
                    Invariant($"memory {Recommender.Bytes(current.MemoryBytes)} is above its target {Recommender.Bytes(estimate.Memory.Target)}, but is lowered only after {Recommender.Duration(young)} of history ({Recommender.Duration(span)} so far): the day's peak is not known yet"),
                    state with { ConsecutiveOff = 0 });
            }
        }
        if (!cpuOff && !memoryOff)
        {
            return Keep(current, RightsizeReason.WithinThreshold,
                Invariant($"cpu {Recommender.Cores(current.CpuCores)} and memory {Recommender.Bytes(current.MemoryBytes)} are within {Options.Threshold * 100:0} % of their targets"),
                state with { ConsecutiveOff = 0 });
        }
        var proposed = new ResourceLimits(cpuOff ? estimate.Cpu.Target : current.CpuCores, memoryOff ? estimate.Memory.Target : current.MemoryBytes);
        var change = Change(current, proposed);
        if (mode == RightsizeMode.Recommend)
        {
            return new RightsizeDecision { Apply = false, Limits = proposed, Reason = RightsizeReason.RecommendOnly, Explanation = $"recommend mode: would set {change}", State = state with { ConsecutiveOff = 0 } };
        }
        var consecutive = state.ConsecutiveOff + 1;
        if (consecutive < Options.ConsecutiveSamples)
        {
            return new RightsizeDecision
            {
                Apply = false,
                Limits = current,
                Reason = RightsizeReason.Hysteresis,
                Explanation = Invariant($"{change} wanted; off for {consecutive} of {Options.ConsecutiveSamples} consecutive samples"),
                State = state with { ConsecutiveOff = consecutive },
            };
        }
        if (state.LastChange is { } last && now - last < Options.Cooldown)
        {
            return new RightsizeDecision
            {
                Apply = false,
                Limits = current,
                Reason = RightsizeReason.Cooldown,
                Explanation = Invariant($"{change} wanted; last change {Recommender.Duration(now - last)} ago, cooldown {Recommender.Duration(Options.Cooldown)}"),
                State = state with { ConsecutiveOff = consecutive },
            };
        }
        return new RightsizeDecision
        {
            Apply = true,
            Limits = proposed,
            Reason = RightsizeReason.Resized,
            Explanation = Invariant($"{change}: off by more than {Options.Threshold * 100:0} % for {consecutive} consecutive samples"),
            State = new RightsizeState { ConsecutiveOff = 0, LastChange = now },
        };
    }

    /// <summary>
    /// An OOM kill: memory goes to the larger of limit × <see cref="RightsizePolicyOptions.OomBumpRatio"/> and the
    /// recommendation's upper bound, at once in auto mode (no hysteresis, no cooldown); CPU is left alone.
    /// </summary>
    public RightsizeDecision OomKilled(RightsizeMode mode, RightsizeState state, ResourceLimits current, Estimate estimate, DateTimeOffset now)
    {
        var wanted = Math.Max(current.MemoryBytes * Options.OomBumpRatio, estimate.HasHistory ? estimate.Memory.Upper : 0);
        var ceiling = current.MemoryBytes * Options.OomBumpMaxRatio;
        var memory = Math.Min(wanted, ceiling);
        var proposed = current with { MemoryBytes = memory };
        var why = Invariant($"OOM kill at memory {Recommender.Bytes(current.MemoryBytes)}: raise to {Recommender.Bytes(memory)} (the larger of ×{Options.OomBumpRatio:0.##} and the upper bound {Recommender.Bytes(estimate.Memory.Upper)}{(wanted > ceiling ? Invariant($", capped at ×{Options.OomBumpMaxRatio:0.##} of the limit") : "")})");
        return mode switch
        {
            RightsizeMode.Auto => new RightsizeDecision { Apply = true, Limits = proposed, Reason = RightsizeReason.OomBump, Explanation = why, State = new RightsizeState { ConsecutiveOff = 0, LastChange = now } },
            RightsizeMode.Recommend => new RightsizeDecision { Apply = false, Limits = proposed, Reason = RightsizeReason.RecommendOnly, Explanation = "recommend mode: " + why, State = state },
            _ => Keep(current, RightsizeReason.Off, "right-sizing is off; OOM kill not acted on", state),
        };
    }

    private bool Off(double limit, ResourceBounds bounds) =>
        limit <= 0
        || bounds.Target - limit > Options.Threshold * limit
        || (limit - bounds.Target > Options.Threshold * limit && !(Options.ShrinkOnlyAboveUpperBound && limit <= bounds.Upper));

    private static RightsizeDecision Keep(ResourceLimits current, RightsizeReason reason, string why, RightsizeState state) =>
        new() { Apply = false, Limits = current, Reason = reason, Explanation = why, State = state };

    private static string Change(ResourceLimits from, ResourceLimits to)
    {
        var parts = new List<string>(2);
        if (to.CpuCores != from.CpuCores)
        {
            parts.Add($"cpu {Recommender.Cores(from.CpuCores)} → {Recommender.Cores(to.CpuCores)}");
        }
        if (to.MemoryBytes != from.MemoryBytes)
        {
            parts.Add($"memory {Recommender.Bytes(from.MemoryBytes)} → {Recommender.Bytes(to.MemoryBytes)}");
        }
        return string.Join(", ", parts);
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
