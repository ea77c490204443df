using Strata.Cluster.Etcd;
using Strata.Scheduler;

namespace Strata.Cluster;

/// <summary>One node as the cluster knows it: its live record (null when offline) and its settings.</summary>
public sealed record NodeView(string Name, NodeRecord? Record, long RecordRevision, NodeSettings Settings, long SettingsRevision)
{
    public bool Online => Record is not null;

    /// <summary><c>online</c>, <c>draining</c> or <c>offline</c>.</summary>
    public string Status => Record is null ? "offline" : Settings.Draining ? "draining" : "online";
}

/// <summary>Reads of the cluster's state shared by the scheduler leader, the failure monitor and the API.</summary>
public static class ClusterView
{
    /// <summary>Every node that ever joined (its settings) with its live record when it has one; by name.</summary>
    public static async Task<IReadOnlyList<NodeView>> NodesAsync(EtcdConnection etcd, CancellationToken ct = default)
    {
        var records = await etcd.GetPrefixAsync(ClusterKeys.Nodes, ct: ct).ConfigureAwait(false);
        var settings = await etcd.GetPrefixAsync(ClusterKeys.NodeSettings, ct: ct).ConfigureAwait(false);
        var live = records.Kvs.ToDictionary(kv => ClusterCodec.Key(kv)[ClusterKeys.Nodes.Length..], StringComparer.Ordinal);
        var views = new List<NodeView>();
        foreach (var kv in settings.Kvs)
        {
            var name = ClusterCodec.Key(kv)[ClusterKeys.NodeSettings.Length..];
            live.TryGetValue(name, out var rec);
            views.Add(new NodeView(name, rec is null ? null : ClusterCodec.Decode(rec, ClusterJson.Default.NodeRecord), rec?.ModRevision ?? 0,
                ClusterCodec.Decode(kv, ClusterJson.Default.NodeSettings), kv.ModRevision));
        }
        return views;
    }

    /// <summary>
    /// The scheduler's snapshot of the live nodes: version = the node record's mod revision, the fence of every
    /// placement on it. <paramref name="placed"/> lists instances per node (for anti-affinity, and for scores on
    /// predicted use); null when the batch needs neither. <paramref name="loads"/> are the nodes' published
    /// predictions (<see cref="LoadsAsync"/>): each placed instance a node predicts gets that prediction, so scores
    /// count what it is predicted to use rather than its limits.
    /// </summary>
    public static ClusterSnapshot Snapshot(IEnumerable<NodeView> nodes, IReadOnlyDictionary<string, List<PlacedInstance>>? placed = null, long revision = 0,
        IReadOnlyDictionary<string, NodeLoadReport>? loads = null) =>
        new(nodes.Where(n => n.Record is not null).Select(n => new NodeInfo
        {
            Name = n.Name,
            Version = n.RecordRevision,
            Capacity = n.Record!.Capacity.ToResources(),
            Free = n.Record.Free.ToResources(),
            Tiers = n.Record.Tiers.Select(t => t.Tier).ToHashSet(StringComparer.Ordinal),
            Arch = n.Record.Arch,
            Labels = n.Settings.Labels,
            Draining = n.Settings.Draining,
            Instances = WithPredictions(placed is not null && placed.TryGetValue(n.Name, out var list) ? list : null, loads?.GetValueOrDefault(n.Name)),
        }), revision);

    /// <summary>The placed instances, each with its node's prediction where the node published one.</summary>
    private static IReadOnlyList<PlacedInstance> WithPredictions(List<PlacedInstance>? placed, NodeLoadReport? report)
    {
        if (placed is null)
        {
            return [];
        }
        if (report is null || report.Instances.Count == 0)
        {
            return placed;
        }
        var predicted = report.Instances.ToDictionary(p => (p.Project, p.Name), p => p.Predicted.ToResources());
        return [.. placed.Select(i => predicted.TryGetValue((i.Project, i.Name), out var p) ? i with { Predicted = p } : i)];
    }

    /// <summary>Every node's published predicted load (<c>load/NODE</c>), by node.</summary>
    public static async Task<Dictionary<string, NodeLoadReport>> LoadsAsync(EtcdConnection etcd, CancellationToken ct = default)
    {
        var r = await etcd.GetPrefixAsync(ClusterKeys.Loads, ct: ct).ConfigureAwait(false);
        return r.Kvs.ToDictionary(kv => ClusterCodec.Key(kv)[ClusterKeys.Loads.Length..], kv => ClusterCodec.Decode(kv, ClusterJson.Default.NodeLoadReport), StringComparer.Ordinal);
    }

    /// <summary>The instances on each node with their anti-affinity groups and what their assignments reserve.</summary>
    public static async Task<Dictionary<string, List<PlacedInstance>>> PlacedAsync(EtcdConnection etcd, CancellationToken ct = default)
    {
        var r = await etcd.GetPrefixAsync(ClusterKeys.Assignments, ct: ct, timeout: TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        var byNode = new Dictionary<string, List<PlacedInstance>>(StringComparer.Ordinal);
        foreach (var kv in r.Kvs)
        {
            var key = ClusterCodec.Key(kv);
            var node = key[ClusterKeys.Assignments.Length..key.IndexOf('/', ClusterKeys.Assignments.Length)];
            var (project, name) = ClusterKeys.ProjectAndName(key);
            var a = ClusterCodec.Decode(kv, ClusterJson.Default.Assignment);
            if (!byNode.TryGetValue(node, out var list))
            {
                byNode[node] = list = [];
            }
            list.Add(new PlacedInstance(name, project, a.AntiAffinityGroup, a.Resources.ToResources()));
        }
        return byNode;
    }

    /// <summary>The scheduler's request for a desired instance.</summary>
    public static PlacementRequest Request(DesiredInstance d, ClusterProject? project) => new()
    {
        Name = d.Name,
        Project = d.Project,
        Tier = d.Tier,
        Resources = d.Resources.ToResources(),
        Node = d.PinnedNode,
        Constraints = [.. d.Constraints.Select(LabelConstraint.Parse)],
        AntiAffinity = d.AntiAffinityGroup is { } g ? new AntiAffinity(g, d.AntiAffinityHard) : null,
        ProjectRules = project is { AllowedTiers: null, AllowedNodes: null } or null ? null
            : new ProjectPlacementRules { AllowedTiers = project.AllowedTiers, AllowedNodes = project.AllowedNodes },
    };

    /// <summary>The cluster records of the projects named (those that exist), by name: their placement rules.</summary>
    public static async Task<Dictionary<string, ClusterProject>> ProjectsAsync(EtcdConnection etcd, IEnumerable<string> names, CancellationToken ct)
    {
        var wanted = names.Distinct(StringComparer.Ordinal).ToList();
        var txn = new Etcdserverpb.TxnRequest();
        foreach (var p in wanted)
        {
            txn.Success.Add(ClusterCodec.Get(ClusterKeys.Project(p)));
        }
        var r = await etcd.TxnAsync(txn, ct).ConfigureAwait(false);
        var map = new Dictionary<string, ClusterProject>(StringComparer.Ordinal);
        for (var i = 0; i < wanted.Count; i++)
        {
            if (r.Responses[i].ResponseRange.Kvs.FirstOrDefault() is { } kv)
            {
                map[wanted[i]] = ClusterCodec.Decode(kv, ClusterJson.Default.ClusterProject);
            }
        }
        return map;
    }
}
