namespace Strata.Scheduler;

/// <summary>
/// The cluster at one moment: every node with its free resources and instances. Immutable; a plan places against
/// it without changing it, and a newer snapshot is what the plan is verified against before it is committed.
/// </summary>
public sealed class ClusterSnapshot
{
    private readonly Dictionary<string, int> _index;
    private readonly NodeInfo[] _nodes;

    public ClusterSnapshot(IEnumerable<NodeInfo> nodes, long revision = 0)
    {
        _nodes = [.. nodes];
        Nodes = _nodes;
        Revision = revision;
        _index = new Dictionary<string, int>(Nodes.Count, StringComparer.Ordinal);
        for (var i = 0; i < Nodes.Count; i++)
        {
            if (!_index.TryAdd(Nodes[i].Name, i))
            {
                throw new ArgumentException($"node '{Nodes[i].Name}' appears twice in the snapshot; node names are unique", nameof(nodes));
            }
        }
    }

    /// <summary>The store revision the snapshot was read at (informational).</summary>
    public long Revision { get; }

    public IReadOnlyList<NodeInfo> Nodes { get; }

    /// <summary>The position of node <paramref name="name"/> in <see cref="Nodes"/>, or -1.</summary>
    public int IndexOf(string name) => _index.TryGetValue(name, out var i) ? i : -1;

    internal NodeInfo NodeAt(int index) => _nodes[index];

    public NodeInfo? Find(string name) => _index.TryGetValue(name, out var i) ? Nodes[i] : null;
}
