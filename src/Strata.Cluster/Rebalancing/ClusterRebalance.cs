using Strata.Cluster.Etcd;
using Strata.Scheduler;
using Strata.Scheduler.Rebalancing;

namespace Strata.Cluster.Rebalancing;

/// <summary>
/// The cluster as the rebalancer sees it, read from etcd: every online node (draining ones take nothing), its
/// capacity and tiers, and the instances assigned to it, each at what its assignment reserves and at what its node
/// predicts it uses (<see cref="NodeLoadReport"/>; its limits where it has no usage history).
/// </summary>
public static class ClusterRebalance
{
    /// <summary>The tiers a move by node name carries today (cold: container, wasm, process).</summary>
    public static readonly IReadOnlySet<string> ColdTiers = new HashSet<string>(["container", "wasm", "process"], StringComparer.Ordinal);

    /// <summary>
    /// The rebalancer's nodes. With <paramref name="project"/>, other projects' instances are <see cref="RebalanceInstance.Hidden"/>:
    /// they weigh on their node's load, but are never named or moved for that caller.
    /// </summary>
    public static async Task<IReadOnlyList<RebalanceNode>> ObserveAsync(EtcdConnection etcd, string? project, IReadOnlySet<string>? movableTiers = null, CancellationToken ct = default)
    {
        movableTiers ??= ColdTiers;
        var nodes = await ClusterView.NodesAsync(etcd, ct).ConfigureAwait(false);
        var loads = await ClusterView.LoadsAsync(etcd, ct).ConfigureAwait(false);
        var instances = await etcd.GetPrefixAsync(ClusterKeys.Instances, ct: ct).ConfigureAwait(false);
        var states = await etcd.GetPrefixAsync(ClusterKeys.States, ct: ct).ConfigureAwait(false);
        var moving = await ClusterMoves.MovingAsync(etcd, ct).ConfigureAwait(false);
        var reported = new Dictionary<(string Node, string Project, string Name), string>();
        foreach (var kv in states.Kvs)
        {
            var key = ClusterCodec.Key(kv);
            var node = key[ClusterKeys.States.Length..key.IndexOf('/', ClusterKeys.States.Length)];
            var (p, n) = ClusterKeys.ProjectAndName(key);
            reported[(node, p, n)] = ClusterCodec.Decode(kv, ClusterJson.Default.InstanceReport).State;
        }
        var byNode = instances.Kvs
            .Select(kv => ClusterCodec.Decode(kv, ClusterJson.Default.DesiredInstance))
            .Where(d => d.Node is not null)
            .GroupBy(d => d.Node!, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.OrderBy(d => d.Project, StringComparer.Ordinal).ThenBy(d => d.Name, StringComparer.Ordinal).ToList(), StringComparer.Ordinal);
        var result = new List<RebalanceNode>();
        foreach (var view in nodes.Where(n => n.Record is not null).OrderBy(n => n.Name, StringComparer.Ordinal))
        {
            var report = loads.GetValueOrDefault(view.Name);
            var predicted = report?.Instances.ToDictionary(p => (p.Project, p.Name)) ?? [];
            var list = new List<RebalanceInstance>();
            foreach (var d in byNode.GetValueOrDefault(view.Name) ?? [])
            {
                var requested = d.Resources.ToResources();
                var p = predicted.GetValueOrDefault((d.Project, d.Name));
                var state = reported.GetValueOrDefault((view.Name, d.Project, d.Name));
                var why = NotMovable(d, state, moving.Contains((d.Project, d.Name)), movableTiers);
                list.Add(new RebalanceInstance(d.Name, d.Project, requested, p?.Predicted.ToResources() ?? requested, p?.Forecast?.ToResources(), Movable: why is null)
                {
                    Tier = d.Tier,
                    NotMovable = why,
                    History = p is not null,
                    Hidden = project is not null && d.Project != project,
                });
            }
            result.Add(new RebalanceNode(view.Name, view.Record!.Capacity.ToResources(), list, Available: !view.Settings.Draining)
            {
                Tiers = view.Record.Tiers.Select(t => t.Tier).ToHashSet(StringComparer.Ordinal),
            });
        }
        return result;
    }

    /// <summary>Why the rebalancer leaves an instance where it is, or null when it may move it.</summary>
    private static string? NotMovable(DesiredInstance d, string? state, bool moving, IReadOnlySet<string> movableTiers) =>
        moving ? "it is being moved now"
        : !movableTiers.Contains(d.Tier) ? $"the {d.Tier} tier does not move by node name yet (it moves: {string.Join(", ", movableTiers.Order(StringComparer.Ordinal))})"
        : d.PinnedNode is not null ? $"it is pinned to node {d.PinnedNode}"
        : d.Constraints.Count > 0 || d.AntiAffinityGroup is not null ? "it has placement constraints or an anti-affinity group, which the rebalancer does not re-check"
        : state != "running" ? $"it is {state ?? "not reported by its node"}, not running"
        : null;
}
