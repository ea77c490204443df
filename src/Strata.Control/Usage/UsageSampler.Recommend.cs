using Strata.Contracts;
using Strata.Rightsizing;
using Strata.Rightsizing.Forecasting;

namespace Strata.Control.Usage;

/// <summary>Recommendations, recent samples and applying a recommendation, always within one project.</summary>
public sealed partial class UsageSampler
{
    /// <summary>
    /// Recommendations for <paramref name="names"/> (every instance with a history when empty) of
    /// <paramref name="project"/>; null project: every project (host administrators). A name without a history in the
    /// project is a 404 worded like a missing instance, whether or not another project has one.
    /// </summary>
    public IReadOnlyList<InstanceRecommendation> Recommend(string? project, IReadOnlyCollection<string>? names = null)
    {
        var records = _service.List(project).ToDictionary(r => r.Id, StringComparer.Ordinal);
        lock (_lock)
        {
            if (names is { Count: > 0 })
            {
                return [.. names.Select(n => Recommend(Find(project!, n, records), records))];
            }
            return [.. _tracked.Values
                .Where(t => (project is null || t.Project == project) && (t.RemovedAt is not null || records.ContainsKey(t.Id)))
                .OrderBy(t => t.Project, StringComparer.Ordinal).ThenBy(t => t.Name, StringComparer.Ordinal)
                .Select(t => Recommend(t, records))];
        }
    }

    /// <summary>The recent samples of one instance of <paramref name="project"/>.</summary>
    public UsageHistoryView History(string project, string name)
    {
        var records = _service.List(project).ToDictionary(r => r.Id, StringComparer.Ordinal);
        lock (_lock)
        {
            var t = Find(project, name, records);
            return new UsageHistoryView
            {
                Name = t.Name,
                IntervalSeconds = Options.Interval.TotalSeconds,
                Limits = ToPair(CurrentLimits(t, records.GetValueOrDefault(t.Id))),
                Points = t.Recent(),
            };
        }
    }

    /// <summary>
    /// Sets a running instance's limits to its recommendation through the tier's live resize, clamped to what the tier
    /// takes (<see cref="ResizeClamp"/>: memory rounded up to a MiB within the tier's range, CPUs in hundredths of a core
    /// for the cgroup tiers and whole vCPUs for a vm, never fewer, a sandbox's unchanged). Refused while the history has no samples.
    /// </summary>
    public async Task<ApplyRecommendationResponse> ApplyAsync(string project, string name, CancellationToken cancellationToken)
    {
        var recommendation = Recommend(project, [name])[0];
        if (recommendation.Samples == 0)
        {
            throw StrataException.Conflict($"instance '{name}' has no usage samples yet: nothing to apply; wait for a few sampling intervals ({Options.Interval.TotalSeconds:0.#} s each)");
        }
        // Already clamped to what the tier can apply; a vm or sandbox whose vCPUs stay as they are is not asked to change them.
        var after = recommendation.Recommended;
        var cpus = after.CpuCores;
        var keepCpus = recommendation.Tier is "vm" or "sandbox" && Math.Abs(cpus - Math.Ceiling(recommendation.Current.CpuCores - 1e-9)) < 0.5;
        var why = recommendation.Clamped.Count > 0
            ? $"the recommendation applied on request (strata recommend --apply); clamped: {string.Join("; ", recommendation.Clamped)}"
            : "the recommendation applied on request (strata recommend --apply)";
        var result = await _service.ResizeAsync(project, name, after.MemoryBytes, keepCpus ? null : cpus, cancellationToken, why).ConfigureAwait(false);
        lock (_lock)
        {
            if (_tracked.Values.FirstOrDefault(t => t.Project == project && t.Name == name && t.RemovedAt is null) is { } t)
            {
                t.MemoryLimitBytes = result.MemoryBytes;
                t.CpuLimit = result.Cpus;
                t.Policy = t.Policy with { LastChange = _time.GetUtcNow(), ConsecutiveOff = 0, LastReason = Rightsizing.Policy.RightsizeReason.Resized, LastExplanation = "the recommendation applied on request" };
                t.Dirty = true;
            }
        }
        var reason = $"applied the recommendation: {string.Join("; ", recommendation.Reasons.Where(r => r.StartsWith("recommended", StringComparison.Ordinal) || r.StartsWith("clamped", StringComparison.Ordinal)))}";
        LogApplied(name, project, recommendation.Current.MemoryBytes, result.MemoryBytes, recommendation.Current.CpuCores, result.Cpus);
        return new ApplyRecommendationResponse(name, recommendation.Current, new ResourcePair(result.Cpus, result.MemoryBytes), reason);
    }

    private TrackedUsage Find(string project, string name, Dictionary<string, Store.InstanceRecord> records)
    {
        // The live instance of that name first; else the newest removed one's history (kept for a week).
        var live = records.Values.FirstOrDefault(r => r.Name == name && r.Project == project);
        if (live is not null && _tracked.TryGetValue(live.Id, out var t))
        {
            return t;
        }
        if (live is null && _tracked.Values.Where(x => x.Project == project && x.Name == name && x.RemovedAt is not null).MaxBy(x => x.RemovedAt) is { } removed)
        {
            return removed;
        }
        throw live is null
            ? StrataException.NotFound($"no instance named '{name}' (and no history kept for one)")
            : StrataException.NotFound($"instance '{name}' has no usage history yet: it is sampled every {Options.Interval.TotalSeconds:0.#} s while it runs on a tier with stats");
    }

    private InstanceRecommendation Recommend(TrackedUsage t, Dictionary<string, Store.InstanceRecord> records)
    {
        var record = records.GetValueOrDefault(t.Id);
        var current = CurrentLimits(t, record);
        var r = _recommender.Recommend(t.History, current);
        var e = r.Explanation;
        var clamped = Clamp(t, record, current, r.Memory.Target, r.Cpu.Target);
        return new InstanceRecommendation
        {
            Name = t.Name,
            Project = t.Project,
            Tier = t.Tier.ToName(),
            State = record?.State.ToName() ?? "removed",
            Current = ToPair(current),
            Cpu = new RecommendedRange(Round(r.Cpu.Target, 3), Round(r.Cpu.Lower, 3), Round(r.Cpu.Upper, 3)),
            Memory = new RecommendedRange(Math.Ceiling(r.Memory.Target), Math.Ceiling(r.Memory.Lower), Math.Ceiling(r.Memory.Upper)),
            Recommended = new ResourcePair(clamped.Cpus, clamped.MemoryBytes),
            Clamped = clamped.Notes,
            SlackToday = Slack(r.SlackToday),
            SlackAfter = Slack(r.SlackAfter),
            Samples = r.Samples,
            HistoryHours = Round(r.HistoryHours, 2),
            OomKills = r.OomKills,
            Confidence = e.ConfidenceDays < 1 ? "low" : e.ConfidenceDays < 7 ? "medium" : "high",
            ConfidenceDays = Round(e.ConfidenceDays, 3),
            UpperFactor = Round(e.UpperFactor, 3),
            LowerFactor = Round(e.LowerFactor, 4),
            Margin = e.Margin,
            CpuP50 = Round(e.CpuP50, 4),
            CpuP90 = Round(e.CpuP90, 4),
            CpuP95 = Round(e.CpuP95, 4),
            MemoryP50 = Math.Ceiling(e.MemoryP50),
            MemoryP90 = Math.Ceiling(e.MemoryP90),
            MemoryP95 = Math.Ceiling(e.MemoryP95),
            ObservedMemoryPeak = Math.Ceiling(e.ObservedMemoryPeak),
            Forecast = e.ForecastMethod switch
            {
                ForecastMethod.Holt => "holt",
                ForecastMethod.HoltWinters => "holt-winters",
                _ => "none",
            },
            ForecastMemoryPeak = Math.Ceiling(e.ForecastMemoryPeak),
            Reasons = clamped.Clamped ? [.. e.Sentences, $"clamped to what the {t.Tier.ToName()} tier can apply: {string.Join("; ", clamped.Notes)}"] : e.Sentences,
        };
    }

    /// <summary>
    /// The limits in force: what the driver reported or a resize set, else the spec's, else the host's (an
    /// unlimited instance may use the whole host).
    /// </summary>
    private static ResourceLimits CurrentLimits(TrackedUsage t, Store.InstanceRecord? record)
    {
        var host = HostCapacity.Current;
        var memory = t.MemoryLimitBytes ?? record?.Spec.Resources?.MemoryBytes ?? host.MemoryBytes;
        var cpu = t.CpuLimit ?? record?.Spec.Resources?.Cpus ?? host.Cpus;
        return new ResourceLimits(cpu, memory);
    }

    private const double Mib = 1024 * 1024;

    private static ResourcePair ToPair(ResourceLimits l) => new(Round(l.CpuCores, 3), (long)l.MemoryBytes);

    private static SlackPair Slack(SlackFigures s) => new(Round(s.Cpu, 4), Round(s.Memory, 4));

    private static double Round(double v, int digits) => Math.Round(v, digits, MidpointRounding.AwayFromZero);
}
