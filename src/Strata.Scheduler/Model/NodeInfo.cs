namespace Strata.Scheduler;

/// <summary>
/// An instance already running (or placed) on a node, as far as placement cares. <see cref="Requested"/> is what its
/// limits reserve; <see cref="Predicted"/> what right-sizing predicts it will use (the recommendation, from its usage
/// history), or null when it has no history. Scores count the prediction; filters count the reservation.
/// </summary>
public sealed record PlacedInstance(string Name, string Project, string? AntiAffinityGroup = null, Resources Requested = default, Resources? Predicted = null);

/// <summary>
/// One node as the scheduler sees it in a snapshot: what it has, what is free, what it can run, and what already
/// runs there. <see cref="Version"/> is the version of the node's record the snapshot was read at (etcd's mod
/// revision); a plan remembers it so a newer snapshot can tell whether the node changed since.
/// </summary>
public sealed class NodeInfo
{
    private Dictionary<(string Project, string Group), int>? _groups;
    private int _tierMask = -1;
    private (Resources Free, int Count)? _predicted;

    public required string Name { get; init; }
    public long Version { get; init; }
    public Resources Capacity { get; init; }
    public Resources Free { get; init; }
    /// <summary>The isolation tiers this node can run (<c>process</c>, <c>container</c>, <c>sandbox</c>, <c>vm</c>, <c>wasm</c>).</summary>
    public IReadOnlySet<string> Tiers { get; init; } = new HashSet<string>(StringComparer.Ordinal);
    /// <summary>CPU architecture as <c>uname -m</c> spells it (<c>x86_64</c>, <c>aarch64</c>).</summary>
    public string Arch { get; init; } = "x86_64";
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>(StringComparer.Ordinal);
    /// <summary>Drained by an operator: runs what it has, takes nothing new.</summary>
    public bool Draining { get; init; }
    /// <summary>Its lease expired: takes nothing new.</summary>
    public bool Offline { get; init; }
    public IReadOnlyList<PlacedInstance> Instances { get; init; } = [];

    /// <summary>
    /// What would be free if every instance with a usage history used what its recommendation predicts instead of its
    /// limits: <see cref="Free"/> plus, per such instance, its limits less its prediction (within the capacity). Equal
    /// to <see cref="Free"/> when no instance here has a history. Scores use it; the capacity filter does not.
    /// </summary>
    public Resources PredictedFree => Predicted().Free;

    /// <summary>How many instances here have a prediction (a usage history).</summary>
    public int PredictedInstances => Predicted().Count;

    private (Resources Free, int Count) Predicted()
    {
        if (_predicted is { } known)
        {
            return known;
        }
        var free = Free;
        var count = 0;
        foreach (var instance in Instances)
        {
            if (instance.Predicted is { } p)
            {
                free += instance.Requested - p;
                count++;
            }
        }
        free = new Resources(Math.Min(free.CpuMillis, Capacity.CpuMillis), Math.Min(free.MemoryBytes, Capacity.MemoryBytes), free.DiskBytes, free.Pids);
        _predicted = (free, count);
        return (free, count);
    }

    /// <summary>Whether the node offers <paramref name="tier"/>; the five known tiers are a bit test.</summary>
    public bool HasTier(string tier)
    {
        var bit = TierBit(tier);
        if (bit == 0)
        {
            return Tiers.Contains(tier);
        }
        if (_tierMask < 0)
        {
            var mask = 0;
            foreach (var t in Tiers)
            {
                mask |= TierBit(t);
            }
            _tierMask = mask;
        }
        return (_tierMask & bit) != 0;
    }

    /// <summary>How many of <paramref name="project"/>'s instances in anti-affinity <paramref name="group"/> run here.</summary>
    public int CountInGroup(string project, string group)
    {
        if (Instances.Count == 0)
        {
            return 0;
        }
        var groups = _groups;
        if (groups is null)
        {
            groups = new Dictionary<(string, string), int>();
            foreach (var instance in Instances)
            {
                if (instance.AntiAffinityGroup is { } g)
                {
                    var key = (instance.Project, g);
                    groups[key] = groups.GetValueOrDefault(key) + 1;
                }
            }
            _groups = groups;
        }
        return groups.GetValueOrDefault((project, group));
    }

    private static int TierBit(string tier) => tier switch
    {
        "process" => 1,
        "container" => 2,
        "sandbox" => 4,
        "vm" => 8,
        "wasm" => 16,
        _ => 0,
    };
}
