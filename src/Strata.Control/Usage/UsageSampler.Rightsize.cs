using System.Globalization;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Rightsizing;
using Strata.Rightsizing.Policy;
using Strata.Store;

namespace Strata.Control.Usage;

/// <summary>
/// The <c>--rightsize off|recommend|auto</c> loop (docs/rightsizing.md, "The loop"): after each sampling round the
/// pure <see cref="RightsizePolicy"/> runs for every sampled instance; in <c>auto</c> its changes are applied through
/// the instance's live resize, an OOM kill at once. Every change is a <c>resized</c> event with its reason.
/// </summary>
public sealed partial class UsageSampler
{
    private const double MiB = 1024 * 1024;

    /// <summary>The mode in force for an instance, and where it comes from (<c>instance</c> or <c>project</c>).</summary>
    public (string Mode, string Source) ModeOf(InstanceRecord record) =>
        record.Spec.Rightsize is { } own ? (own, "instance")
        : (_projects?.Find(record.Project)?.Rightsize ?? RightsizeModes.Default, "project");

    private static RightsizeMode Parse(string mode) => mode switch
    {
        RightsizeModes.Auto => RightsizeMode.Auto,
        RightsizeModes.Off => RightsizeMode.Off,
        _ => RightsizeMode.Recommend,
    };

    /// <summary>What <c>inspect</c> shows of an instance's right-sizing.</summary>
    public RightsizeStatus Status(InstanceRecord record)
    {
        var (mode, source) = ModeOf(record);
        lock (_lock)
        {
            var t = _tracked.GetValueOrDefault(record.Id);
            return new RightsizeStatus
            {
                Mode = mode,
                Source = source,
                LastDecision = t?.LastDecision is { } d ? ReasonName(d.Reason) : null,
                LastDecisionExplanation = t?.LastDecision?.Explanation,
                LastChange = t?.Policy.LastChange,
                LastChangeReason = t?.Policy.LastReason is { } r ? ReasonName(r) : null,
                LastChangeExplanation = t?.Policy.LastExplanation,
            };
        }
    }

    /// <summary>A decision that changes limits, made under the lock and applied after it.</summary>
    private sealed record Change(TrackedUsage Tracked, InstanceRecord Record, RightsizeDecision Decision, long? MemoryBytes, double? Cpus);

    /// <summary>
    /// Runs the policy for every instance in <c>auto</c> mode sampled (or OOM-killed) this round; returns the changes to apply. Called
    /// under the lock. An OOM kill is decided at once (<see cref="RightsizePolicy.OomKilled"/>); otherwise one
    /// evaluation per new sample. A change that rounds to the limits in force (memory to a MiB, CPUs to whole
    /// vCPUs, as resize takes them) is not applied.
    /// </summary>
    private List<Change> Decide(IEnumerable<InstanceRecord> records, HashSet<string> sampled, DateTimeOffset now)
    {
        var changes = new List<Change>();
        foreach (var record in records)
        {
            if (!_tracked.TryGetValue(record.Id, out var t) || (!sampled.Contains(record.Id) && !t.OomPending))
            {
                continue;
            }
            var mode = Parse(ModeOf(record).Mode);
            if (mode != RightsizeMode.Auto)
            {
                // off and recommend never apply: no evaluation each round (strata recommend answers when asked).
                t.OomPending = false;
                t.LastDecision = null;
                continue;
            }
            var current = CurrentLimits(t, record);
            var estimate = _recommender.Estimate(t.History);
            var decision = t.OomPending
                ? _policy.OomKilled(mode, t.Policy, current, estimate, now)
                : _policy.Evaluate(mode, t.Policy, current, estimate, now);
            t.OomPending = false;
            t.LastDecision = decision;
            t.Policy = decision.State;
            t.Dirty = true;
            if (!decision.Apply)
            {
                continue;
            }
            // Inside what the tier's resize takes, and never beyond the host (an OOM bump takes the upper bound,
            // which a young history widens a lot); a value the clamp changed says so in the decision's sentence.
            var clamped = Clamp(t, record, current, decision.Limits.MemoryBytes, decision.Limits.CpuCores);
            if (clamped.Clamped)
            {
                decision = decision with { Explanation = $"{decision.Explanation}; clamped: {string.Join("; ", clamped.Notes)}" };
                t.LastDecision = decision;
            }
            long? memory = clamped.MemoryBytes;
            double? cpus = clamped.Cpus;
            if (Math.Abs(memory.Value - current.MemoryBytes) < MiB || decision.Limits.MemoryBytes == current.MemoryBytes)
            {
                memory = null;
            }
            if (Math.Abs(clamped.Cpus - CurrentCpus(t, record, current)) < TierResizeRange.CgroupCpuStep / 2 || decision.Limits.CpuCores == current.CpuCores)
            {
                cpus = null;
            }
            if (memory is null && cpus is null)
            {
                continue;
            }
            changes.Add(new Change(t, record, decision, memory, cpus));
        }
        return changes;
    }

    /// <summary>The recommendation's limits clamped to what the instance's tier can apply (<see cref="ResizeClamp"/>).</summary>
    private static ClampedLimits Clamp(TrackedUsage t, InstanceRecord? record, ResourceLimits current, double memoryBytes, double cpuCores) =>
        ResizeClamp.Clamp(t.Tier, CurrentCpus(t, record, current), record?.Spec.Resources?.MemoryBytes, HostCapacity.Current, memoryBytes, cpuCores);

    // A vm or sandbox without CPUs in its spec boots with one vCPU (not the host's, which CurrentLimits takes for an
    // unlimited container or process).
    private static double CurrentCpus(TrackedUsage t, InstanceRecord? record, ResourceLimits current) =>
        t.Tier is Tier.Vm or Tier.Sandbox ? t.CpuLimit ?? record?.Spec.Resources?.Cpus ?? 1 : current.CpuCores;

    /// <summary>Applies the changes through live resize; one that fails is logged and noted, and waits for the cooldown.</summary>
    private async Task ApplyChangesAsync(List<Change> changes, CancellationToken cancellationToken)
    {
        foreach (var c in changes)
        {
            var why = $"right-sizing ({ReasonName(c.Decision.Reason)}): {c.Decision.Explanation}";
            try
            {
                var result = await _service.ResizeAsync(c.Record.Project, c.Record.Name, c.MemoryBytes, c.Cpus, cancellationToken, why).ConfigureAwait(false);
                lock (_lock)
                {
                    if (c.MemoryBytes is not null)
                    {
                        c.Tracked.MemoryLimitBytes = result.MemoryBytes;
                    }
                    if (c.Cpus is not null)
                    {
                        c.Tracked.CpuLimit = result.Cpus;
                    }
                    c.Tracked.Policy = c.Tracked.Policy with { LastReason = c.Decision.Reason, LastExplanation = c.Decision.Explanation };
                    c.Tracked.Dirty = true;
                }
                LogRightsized(c.Record.Name, c.Record.Project, ReasonName(c.Decision.Reason), c.Decision.Explanation);
            }
            catch (StrataException e)
            {
                lock (_lock)
                {
                    c.Tracked.Policy = c.Tracked.Policy with
                    {
                        LastReason = c.Decision.Reason,
                        LastExplanation = $"{c.Decision.Explanation}; not applied: {e.Message}",
                    };
                    c.Tracked.Dirty = true;
                }
                LogRightsizeFailed(c.Record.Name, c.Record.Project, e.Message);
            }
        }
    }

    /// <summary>The stable name of a reason, as events and inspect show it.</summary>
    public static string ReasonName(RightsizeReason reason) => reason switch
    {
        RightsizeReason.Off => "off",
        RightsizeReason.RecommendOnly => "recommend-only",
        RightsizeReason.NoHistory => "no-history",
        RightsizeReason.WithinThreshold => "within-threshold",
        RightsizeReason.Hysteresis => "hysteresis",
        RightsizeReason.Cooldown => "cooldown",
        RightsizeReason.Resized => "resized",
        RightsizeReason.OomBump => "oom-bump",
        RightsizeReason.YoungHistory => "young-history",
        _ => ((int)reason).ToString(CultureInfo.InvariantCulture),
    };
}
