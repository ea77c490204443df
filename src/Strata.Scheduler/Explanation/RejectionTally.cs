namespace Strata.Scheduler;

/// <summary>
/// Counts rejections by (plugin, reason) and keeps the first few rejected nodes of each, frozen, so their facts are
/// written only when the explanation is read: bounded for any cluster size, and cheap when nobody reads it.
/// </summary>
internal sealed class RejectionTally(int examplesPerReason, PlacementRequest request)
{
    private List<Entry>? _entries;
    private IReadOnlyList<RejectionGroup>? _groups;

    public int Total { get; private set; }

    public void Add(IFilterPlugin plugin, string reason, in NodeCandidate node)
    {
        var entry = Find(plugin.Name, reason);
        entry.Count++;
        Total++;
        if (entry.Examples.Count < examplesPerReason)
        {
            entry.Plugin ??= plugin;
            entry.Examples.Add(node.Freeze(request));
        }
    }

    /// <summary>Counts <paramref name="count"/> nodes rejected without visiting them (no facts).</summary>
    public void AddUnvisited(string plugin, string reason, int count)
    {
        Find(plugin, reason).Count += count;
        Total += count;
    }

    /// <summary>The groups, most frequent first, with their facts (written on the first call).</summary>
    public IReadOnlyList<RejectionGroup> Groups() =>
        _groups ??= _entries is null
            ? []
            : [.. _entries
                .OrderByDescending(e => e.Count)
                .ThenBy(e => e.Name, StringComparer.Ordinal)
                .ThenBy(e => e.Reason, StringComparer.Ordinal)
                .Select(e => new RejectionGroup
                {
                    Plugin = e.Name,
                    Reason = e.Reason,
                    Count = e.Count,
                    Examples = [.. e.Examples.Select(n => e.Plugin!.Explain(n, request, e.Reason))],
                })];

    private Entry Find(string plugin, string reason)
    {
        _entries ??= [];
        foreach (var e in _entries)
        {
            // Reasons are usually the plugin's constant strings: the reference check settles most lookups.
            if ((ReferenceEquals(e.Reason, reason) || e.Reason == reason) && e.Name == plugin)
            {
                return e;
            }
        }
        var entry = new Entry(plugin, reason);
        _entries.Add(entry);
        return entry;
    }

    private sealed class Entry(string name, string reason)
    {
        public string Name { get; } = name;
        public string Reason { get; } = reason;
        public IFilterPlugin? Plugin { get; set; }
        public int Count { get; set; }
        public List<NodeCandidate> Examples { get; } = [];
    }
}
