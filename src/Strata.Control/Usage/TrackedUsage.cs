using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Rightsizing;
using Strata.Rightsizing.Policy;

namespace Strata.Control.Usage;

/// <summary>
/// One instance's usage as the sampler holds it: the long history (histograms, peaks, forecast), the policy state,
/// the last reading (CPU is the difference of two), and a ring of recent samples. Guarded by the sampler's lock.
/// </summary>
internal sealed class TrackedUsage(string id, string project, string name, Tier tier, UsageHistory history, int recentCapacity)
{
    private readonly UsagePoint[] _recent = new UsagePoint[recentCapacity];
    private int _recentCount;
    private int _recentNext;

    public string Id { get; } = id;
    public string Project { get; set; } = project;
    public string Name { get; set; } = name;
    public Tier Tier { get; } = tier;
    public UsageHistory History { get; } = history;
    public RightsizeState Policy { get; set; } = new();
    public UsageReading? Last { get; set; }
    public DateTimeOffset LastTime { get; set; }
    /// <summary>CPU time summed over readings (it survives a workload restart, unlike the driver's counter).</summary>
    public long CpuNanosecondsTotal { get; set; }
    public long OomKillsTotal { get; set; }
    /// <summary>A reading of the current run has counted an OOM kill already (its exit must not count it again).</summary>
    public bool OomCountedThisRun { get; set; }
    public long? MemoryLimitBytes { get; set; }
    /// <summary>CPUs set by an applied recommendation (null: the spec's).</summary>
    public double? CpuLimit { get; set; }
    public DateTimeOffset? RemovedAt { get; set; }
    /// <summary>An OOM kill seen this round that the right-sizing policy has not answered yet.</summary>
    public bool OomPending { get; set; }
    /// <summary>The policy's last decision (in memory: inspect shows it).</summary>
    public RightsizeDecision? LastDecision { get; set; }
    public bool Dirty { get; set; }

    public void AddRecent(UsagePoint point)
    {
        _recent[_recentNext] = point;
        _recentNext = (_recentNext + 1) % _recent.Length;
        _recentCount = Math.Min(_recentCount + 1, _recent.Length);
    }

    public IReadOnlyList<UsagePoint> Recent()
    {
        var result = new UsagePoint[_recentCount];
        var start = (_recentNext - _recentCount + _recent.Length) % _recent.Length;
        for (var i = 0; i < _recentCount; i++)
        {
            result[i] = _recent[(start + i) % _recent.Length];
        }
        return result;
    }
}
