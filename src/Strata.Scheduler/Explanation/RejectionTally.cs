namespace Strata.Scheduler;

/// <summary>Counts rejections by (plugin, reason) and keeps the first few facts of each: bounded for any cluster size.</summary>
internal sealed class RejectionTally(int examplesPerReason)
{
    private readonly List<Entry> _entries = [];

    public int Total { get; private set; }

    public void Add(string plugin, FilterVerdict verdict) => Add(plugin, verdict.Reason!, verdict.Fact, 1);

    public void Add(string plugin, string reason, string? fact, int count)
    {
        Total += count;
        Entry? entry = null;
        foreach (var e in _entries)
        {
            if (ReferenceEquals(e.Plugin, plugin) || e.Plugin == plugin)
            {
                if (e.Reason == reason)
                {
                    entry = e;
                    break;
                }
            }
        }
        if (entry is null)
        {
            entry = new Entry(plugin, reason);
            _entries.Add(entry);
        }
        entry.Count += count;
        if (fact is not null && entry.Examples.Count < examplesPerReason)
        {
            entry.Examples.Add(fact);
        }
    }

    public IReadOnlyList<RejectionGroup> Groups()
    {
        if (_entries.Count == 0)
        {
            return [];
        }
        return [.. _entries
            .OrderByDescending(e => e.Count)
            .ThenBy(e => e.Plugin, StringComparer.Ordinal)
            .ThenBy(e => e.Reason, StringComparer.Ordinal)
            .Select(e => new RejectionGroup { Plugin = e.Plugin, Reason = e.Reason, Count = e.Count, Examples = e.Examples })];
    }

    private sealed class Entry(string plugin, string reason)
    {
        public string Plugin { get; } = plugin;
        public string Reason { get; } = reason;
        public int Count { get; set; }
        public List<string> Examples { get; } = [];
    }
}
