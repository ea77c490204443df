using Etcdserverpb;
using Microsoft.Extensions.Logging;
using Strata.Cluster.Etcd;
using V3Electionpb;

namespace Strata.Cluster;

/// <summary>
/// Run by the scheduler leader once a second. Detection and action are separate:
/// <list type="number">
/// <item>Detection: a node whose lease lapsed has no record; it is marked offline (its settings get
/// <c>offlineSince</c>, an event says so) and its instances read as <c>lost</c>. Nothing is moved yet.</item>
/// <item>Action: after <see cref="ClusterOptions.ReplacementGrace"/>, the instances that declared
/// <c>--restart always</c> and hold no local state are placed again elsewhere, one node per
/// <see cref="ClusterOptions.ReplacementInterval"/>; the others stay lost until their node returns.</item>
/// <item>Freeze: while half or more of the nodes are offline at once, nothing is replaced: that is a partition
/// (or this side of one), not failures, and moving everything would double the workloads when it heals.</item>
/// </list>
/// </summary>
public sealed partial class FailureMonitor(EtcdConnection etcd, ClusterOptions options, PlacementCommitter placer, ILogger log, TimeProvider time)
{
    private DateTimeOffset _lastReplacement = DateTimeOffset.MinValue;
    private bool _frozen;

    /// <summary>True while replacements are frozen because too many nodes are offline.</summary>
    public bool Frozen => _frozen;

    /// <summary>Instances placed again after their node was lost, since this node started.</summary>
    public int Replaced { get; private set; }

    public async Task TickAsync(LeaderKey leader, CancellationToken ct)
    {
        var nodes = await ClusterView.NodesAsync(etcd, ct).ConfigureAwait(false);
        var now = time.GetUtcNow();
        foreach (var n in nodes.Where(n => !n.Online && n.Settings.OfflineSince is null))
        {
            var txn = new TxnRequest();
            txn.Compare.Add(ClusterCodec.CreatedAt(leader.Key.ToStringUtf8(), leader.Rev));
            txn.Compare.Add(ClusterCodec.ModRevisionIs(ClusterKeys.Settings(n.Name), n.SettingsRevision));
            txn.Compare.Add(ClusterCodec.Absent(ClusterKeys.Node(n.Name)));
            txn.Success.Add(ClusterCodec.Put(ClusterKeys.Settings(n.Name), ClusterCodec.Encode(n.Settings with { OfflineSince = now }, ClusterJson.Default.NodeSettings)));
            if ((await etcd.TxnAsync(txn, ct).ConfigureAwait(false)).Succeeded)
            {
                LogOffline(log, n.Name);
                await ClusterEvents.AddAsync(etcd, "node-offline", $"node {n.Name} is offline (its lease lapsed); its instances are lost until it returns or, for --restart always stateless ones, until they are placed again after {options.ReplacementGrace.TotalSeconds:0} s", ct).ConfigureAwait(false);
            }
        }
        var offline = nodes.Where(n => !n.Online).ToList();
        if (offline.Count == 0)
        {
            _frozen = false;
            return;
        }
        var freeze = nodes.Count > 1 && offline.Count >= Math.Ceiling(nodes.Count * options.FreezeFraction);
        if (freeze != _frozen)
        {
            _frozen = freeze;
            var message = freeze
                ? $"replacements frozen: {offline.Count} of {nodes.Count} nodes are offline at once, which looks like a partition rather than failures; lost instances stay where they are until fewer than {options.FreezeFraction:P0} of the nodes are offline"
                : $"replacements resumed: {offline.Count} of {nodes.Count} nodes offline";
            LogFreeze(log, message);
            await ClusterEvents.AddAsync(etcd, freeze ? "replacements-frozen" : "replacements-resumed", message, ct).ConfigureAwait(false);
        }
        if (freeze || now - _lastReplacement < options.ReplacementInterval)
        {
            return;
        }
        foreach (var n in offline.Where(n => n.Settings.OfflineSince is { } since && now - since >= options.ReplacementGrace).OrderBy(n => n.Settings.OfflineSince))
        {
            var lost = await ReplaceableOnAsync(n.Name, ct).ConfigureAwait(false);
            if (lost.Count == 0)
            {
                continue;
            }
            var moved = await placer.ReplaceAsync(leader, n.Name, lost, ct).ConfigureAwait(false);
            if (moved.Count > 0)
            {
                Replaced += moved.Count;
                _lastReplacement = now;
                LogReplaced(log, moved.Count, n.Name);
                await ClusterEvents.AddAsync(etcd, "instances-replaced",
                    $"{moved.Count} instance(s) of offline node {n.Name} placed again: " + string.Join(", ", moved.Select(m => $"{m.Project}/{m.Name} on {m.Node}")), ct).ConfigureAwait(false);
                return; // one node per interval
            }
        }
    }

    /// <summary>The instances assigned to an offline node that may start afresh elsewhere.</summary>
    private async Task<List<(DesiredInstance, long)>> ReplaceableOnAsync(string node, CancellationToken ct)
    {
        var assigned = await etcd.GetPrefixAsync(ClusterKeys.AssignmentsOf(node), keysOnly: true, ct: ct).ConfigureAwait(false);
        var list = new List<(DesiredInstance, long)>();
        foreach (var kv in assigned.Kvs)
        {
            var (project, name) = ClusterKeys.ProjectAndName(ClusterCodec.Key(kv));
            var r = await etcd.GetAsync(ClusterKeys.Instance(project, name), ct).ConfigureAwait(false);
            if (r.Kvs.FirstOrDefault() is { } ikv)
            {
                var d = ClusterCodec.Decode(ikv, ClusterJson.Default.DesiredInstance);
                if (d.Replaceable && d.PinnedNode is null && d.Node == node)
                {
                    list.Add((d, ikv.ModRevision));
                }
            }
        }
        return list;
    }

    [LoggerMessage(EventId = 1930, Level = LogLevel.Warning, Message = "Cluster: node {Node} is offline")]
    private static partial void LogOffline(ILogger log, string node);

    [LoggerMessage(EventId = 1931, Level = LogLevel.Warning, Message = "Cluster: {Message}")]
    private static partial void LogFreeze(ILogger log, string message);

    [LoggerMessage(EventId = 1932, Level = LogLevel.Warning, Message = "Cluster: placed {Count} instance(s) of offline node {Node} again on other nodes")]
    private static partial void LogReplaced(ILogger log, int count, string node);
}

/// <summary>Cluster events: small records under a one-hour lease, so they clean themselves up.</summary>
public static class ClusterEvents
{
    public static async Task AddAsync(EtcdConnection etcd, string kind, string message, CancellationToken ct)
    {
        var lease = await etcd.GrantLeaseAsync(TimeSpan.FromHours(1), ct).ConfigureAwait(false);
        var at = DateTimeOffset.UtcNow;
        await etcd.PutAsync(ClusterKeys.Events + at.ToUnixTimeMilliseconds().ToString("D15", System.Globalization.CultureInfo.InvariantCulture) + "-" + kind,
            ClusterCodec.Encode(new ClusterEvent(kind, message, at), ClusterJson.Default.ClusterEvent), lease, ct).ConfigureAwait(false);
    }

    public static async Task<IReadOnlyList<ClusterEvent>> ListAsync(EtcdConnection etcd, CancellationToken ct = default)
    {
        var r = await etcd.GetPrefixAsync(ClusterKeys.Events, ct: ct).ConfigureAwait(false);
        return [.. r.Kvs.Select(kv => ClusterCodec.Decode(kv, ClusterJson.Default.ClusterEvent))];
    }
}
