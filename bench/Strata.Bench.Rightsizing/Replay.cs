using Strata.Rightsizing;
using Strata.Rightsizing.Policy;

/// <summary>What one limit strategy did over one trace.</summary>
/// <remarks><c>OomAtDeclared</c> counts the OOM events that came while the memory limit was still at least the one
/// declared by hand (the declared limits would have had them too); the rest came after the strategy lowered it.</remarks>
internal readonly record struct ReplayResult(double MemorySlack, long OomEvents, double CpuSlack, long ThrottledSamples, int Changes, double LastDayMemorySlack, long OomAtDeclared = 0);

/// <summary>
/// Replays a trace under a limit strategy. Slack is time-weighted (samples are evenly spaced): the mean of
/// (limit − usage) / limit, counted as 0 for a sample above the limit (that sample is an OOM event for memory, a
/// throttled sample for CPU, and has no unused limit).
/// </summary>
internal static class Replay
{
    public static ReplayResult Static(SyntheticTrace trace, ResourceLimits limits)
    {
        var (memSlack, ooms) = Slack(trace.Memory, limits.MemoryBytes);
        var (cpuSlack, throttled) = Slack(trace.Cpu, limits.CpuCores);
        var lastDay = trace.Memory.Length - (trace.Memory.Length / 7);
        return new ReplayResult(memSlack, ooms, cpuSlack, throttled, 0, Slack(trace.Memory[lastDay..], limits.MemoryBytes).Slack, limits.MemoryBytes >= trace.Declared.MemoryBytes ? ooms : 0);
    }

    /// <summary>
    /// Auto mode from the declared limits: every sample goes into the history, a sample above the memory limit is an
    /// OOM kill that the history records and the policy answers at once, and the policy is evaluated every
    /// <paramref name="evaluateEvery"/> samples on the recommender's estimate.
    /// </summary>
    public static ReplayResult Auto(SyntheticTrace trace, Recommender recommender, RightsizePolicy policy, DateTimeOffset start, TimeSpan step, int evaluateEvery, out UsageHistory history, out ResourceLimits final)
    {
        history = recommender.NewHistory();
        var state = new RightsizeState();
        var limits = trace.Declared;
        double memSlack = 0, cpuSlack = 0, lastDaySlack = 0;
        var lastDay = trace.Memory.Length - (int)(TimeSpan.FromDays(1) / step);
        long ooms = 0, throttled = 0, atDeclared = 0;
        var changes = 0;
        for (var i = 0; i < trace.Memory.Length; i++)
        {
            var time = start + (i * step);
            var memory = trace.Memory[i];
            var cpu = trace.Cpu[i];
            if (memory > limits.MemoryBytes)
            {
                ooms++;
                atDeclared += limits.MemoryBytes >= trace.Declared.MemoryBytes ? 1 : 0;
                history.RecordOomKill(time, limits.MemoryBytes);
                var bump = policy.OomKilled(RightsizeMode.Auto, state, limits, recommender.Estimate(history), time);
                (limits, state) = (bump.Limits, bump.State);
                changes++;
            }
            else
            {
                var slack = (limits.MemoryBytes - memory) / limits.MemoryBytes;
                memSlack += slack;
                lastDaySlack += i >= lastDay ? slack : 0;
            }
            if (cpu > limits.CpuCores)
            {
                throttled++;
            }
            else
            {
                cpuSlack += (limits.CpuCores - cpu) / limits.CpuCores;
            }
            history.Add(new UsageSample(time, cpu, memory));
            if (i % evaluateEvery == evaluateEvery - 1)
            {
                var decision = policy.Evaluate(RightsizeMode.Auto, state, limits, recommender.Estimate(history), time);
                state = decision.State;
                if (decision.Apply)
                {
                    limits = decision.Limits;
                    changes++;
                }
            }
        }
        final = limits;
        return new ReplayResult(memSlack / trace.Memory.Length, ooms, cpuSlack / trace.Cpu.Length, throttled, changes, lastDaySlack / (trace.Memory.Length - lastDay), atDeclared);
    }

    /// <summary>
    /// A clairvoyant limit that changes every <paramref name="window"/> samples to the peak of the coming window times
    /// (1 + <paramref name="margin"/>): zero OOM events by construction. No online algorithm that changes limits at
    /// most that often, with that margin, and has zero OOM events can have less slack on the trace.
    /// </summary>
    public static ReplayResult Clairvoyant(SyntheticTrace trace, int window, double margin) => Clairvoyant(trace, window, margin, spikeBlind: false);

    /// <summary>
    /// Like <see cref="Clairvoyant(SyntheticTrace, int, double)"/> without margin, but blind to when spikes come: it
    /// knows the coming window's use without spikes and the trace's largest spike, and holds that spike on top of the
    /// whole window, since a spike may start at any sample. Zero OOM events by construction. A strategy that changes
    /// limits at most once a window and would have no OOM event wherever the trace's spikes came cannot have less
    /// slack on the trace, however well it forecasts.
    /// </summary>
    public static ReplayResult SpikeBlind(SyntheticTrace trace, int window) => Clairvoyant(trace, window, 0, spikeBlind: true);

    private static ReplayResult Clairvoyant(SyntheticTrace trace, int window, double margin, bool spikeBlind)
    {
        double memSlack = 0, cpuSlack = 0, lastDaySlack = 0;
        var lastDay = trace.Memory.Length - (trace.Memory.Length / 7);
        var changes = 0;
        for (var w = 0; w < trace.Memory.Length; w += window)
        {
            var end = Math.Min(trace.Memory.Length, w + window);
            double memLimit = 0, cpuLimit = 0;
            for (var i = w; i < end; i++)
            {
                memLimit = Math.Max(memLimit, trace.Memory[i]);
                memLimit = spikeBlind ? Math.Max(memLimit, trace.MemoryWithoutSpikes[i] * trace.LargestSpike) : memLimit;
                cpuLimit = Math.Max(cpuLimit, trace.Cpu[i]);
            }
            memLimit *= 1 + margin;
            cpuLimit *= 1 + margin;
            changes++;
            for (var i = w; i < end; i++)
            {
                var slack = (memLimit - trace.Memory[i]) / memLimit;
                memSlack += slack;
                lastDaySlack += i >= lastDay ? slack : 0;
                cpuSlack += (cpuLimit - trace.Cpu[i]) / cpuLimit;
            }
        }
        return new ReplayResult(memSlack / trace.Memory.Length, 0, cpuSlack / trace.Cpu.Length, 0, changes, lastDaySlack / (trace.Memory.Length - lastDay));
    }

    private static (double Slack, long Over) Slack(double[] usage, double limit)
    {
        double sum = 0;
        long over = 0;
        foreach (var u in usage)
        {
            if (u > limit)
            {
                over++;
            }
            else
            {
                sum += (limit - u) / limit;
            }
        }
        return (sum / usage.Length, over);
    }
}
