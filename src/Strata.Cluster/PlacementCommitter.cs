using Etcdserverpb;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Strata.Cluster.Etcd;
using Strata.Scheduler;
using V3Electionpb;

namespace Strata.Cluster;

/// <summary>
/// Places admitted instances with the pure scheduler and commits each batch in one etcd transaction, Nomad's
/// plan-queue rejection in etcd terms. The transaction holds only if
/// <list type="bullet">
/// <item>the leader key still has the create revision this leader got (a deposed leader commits nothing);</item>
/// <item>every node record placed on still has the mod revision the plan saw (a stale view never overfills a node);</item>
/// <item>every pending key is unchanged (an instance removed meanwhile is not placed).</item>
/// </list>
/// A failed compare re-reads and plans again. Each placement stores the scheduler's explanation ("Why this
/// node"), takes a new generation, and writes the node's new free resources.
/// </summary>
public sealed partial class PlacementCommitter(EtcdConnection etcd, ClusterOptions options, Scheduler.Scheduler scheduler, ILogger log)
{
    private int _batch = options.PlacementBatch;
    private int _seed;

    /// <summary>Placements committed by this node since it started.</summary>
    public long Committed => Interlocked.Read(ref _committed);

    private long _committed;

    /// <summary>Commits that failed their compare and were planned again.</summary>
    public long Conflicts => Interlocked.Read(ref _conflicts);

    private long _conflicts;

    /// <summary>Places up to one batch of the oldest pending instances. Returns how many it took off the queue.</summary>
    public async Task<int> PlacePendingAsync(LeaderKey leader, CancellationToken ct)
    {
        var pending = await etcd.GetPrefixAsync(ClusterKeys.Pending, limit: _batch, oldestFirst: true, ct: ct).ConfigureAwait(false);
        if (pending.Kvs.Count == 0)
        {
            return 0;
        }
        var items = pending.Kvs.Select(kv => (Kv: kv, Desired: ClusterCodec.Decode(kv, ClusterJson.Default.DesiredInstance))).ToList();
        var nodes = await ClusterView.NodesAsync(etcd, ct).ConfigureAwait(false);
        var loads = await ClusterView.LoadsAsync(etcd, ct).ConfigureAwait(false);
        // The assignments are read when a request has an anti-affinity group, or when a node published predictions
        // (scores then count each predicted instance's prediction instead of its limits).
        var placed = items.Any(i => i.Desired.AntiAffinityGroup is not null) || loads.Values.Any(l => l.Instances.Count > 0)
            ? await ClusterView.PlacedAsync(etcd, ct).ConfigureAwait(false) : null;
        var projects = await ClusterView.ProjectsAsync(etcd, items.Select(i => i.Desired.Project), ct).ConfigureAwait(false);
        var plan = scheduler.CreatePlan(ClusterView.Snapshot(nodes, placed, loads: loads), Interlocked.Increment(ref _seed));
        var txn = Fence(leader);
        var now = DateTimeOffset.UtcNow;
        foreach (var (kv, d) in items)
        {
            var outcome = plan.Place(ClusterView.Request(d, projects.GetValueOrDefault(d.Project)));
            txn.Compare.Add(ClusterCodec.ModRevisionIs(ClusterCodec.Key(kv), kv.ModRevision));
            txn.Success.Add(ClusterCodec.Delete(ClusterCodec.Key(kv)));
            var key = ClusterKeys.Instance(d.Project, d.Name);
            if (outcome.Node is { } node)
            {
                var result = d with { Node = node, Generation = kv.CreateRevision, Why = outcome.Explanation, Placed = now };
                txn.Success.Add(ClusterCodec.Put(key, ClusterCodec.Encode(result, ClusterJson.Default.DesiredInstance)));
                txn.Success.Add(ClusterCodec.Put(ClusterKeys.Assignment(node, d.Project, d.Name),
                    ClusterCodec.Encode(new Assignment(result.Generation, d.Resources, d.AntiAffinityGroup), ClusterJson.Default.Assignment)));
            }
            else
            {
                var refused = d with { Error = outcome.Explanation.Error ?? "no node can take it", Why = outcome.Explanation };
                txn.Success.Add(ClusterCodec.Put(key, ClusterCodec.Encode(refused, ClusterJson.Default.DesiredInstance)));
            }
        }
        AddNodeUpdates(txn, plan, nodes);
        return await CommitAsync(txn, leader, items.Count, ct).ConfigureAwait(false) ? items.Count : 0;
    }

    /// <summary>
    /// Places <paramref name="lost"/> (instances of an offline node) again on other nodes: new generation, the old
    /// assignment removed, fenced like every placement and on each instance record. Returns the instances placed.
    /// </summary>
    public async Task<IReadOnlyList<DesiredInstance>> ReplaceAsync(LeaderKey leader, string offlineNode, IReadOnlyList<(DesiredInstance Desired, long Revision)> lost, CancellationToken ct)
    {
        var nodes = await ClusterView.NodesAsync(etcd, ct).ConfigureAwait(false);
        var placed = await ClusterView.PlacedAsync(etcd, ct).ConfigureAwait(false);
        var loads = await ClusterView.LoadsAsync(etcd, ct).ConfigureAwait(false);
        var projects = await ClusterView.ProjectsAsync(etcd, lost.Select(l => l.Desired.Project), ct).ConfigureAwait(false);
        var plan = scheduler.CreatePlan(ClusterView.Snapshot(nodes.Where(n => n.Name != offlineNode), placed, loads: loads), Interlocked.Increment(ref _seed));
        var txn = Fence(leader);
        var moved = new List<DesiredInstance>();
        foreach (var (d, revision) in lost)
        {
            var outcome = plan.Place(ClusterView.Request(d, projects.GetValueOrDefault(d.Project)) with { Node = null });
            if (outcome.Node is not { } node)
            {
                LogNoReplacement(log, d.Project, d.Name, outcome.Explanation.Error ?? "");
                continue;
            }
            var key = ClusterKeys.Instance(d.Project, d.Name);
            var result = d with { Node = node, Generation = revision, Why = outcome.Explanation, Placed = DateTimeOffset.UtcNow, Replacements = d.Replacements + 1 };
            txn.Compare.Add(ClusterCodec.ModRevisionIs(key, revision));
            txn.Success.Add(ClusterCodec.Put(key, ClusterCodec.Encode(result, ClusterJson.Default.DesiredInstance)));
            txn.Success.Add(ClusterCodec.Delete(ClusterKeys.Assignment(offlineNode, d.Project, d.Name)));
            txn.Success.Add(ClusterCodec.Put(ClusterKeys.Assignment(node, d.Project, d.Name),
                ClusterCodec.Encode(new Assignment(result.Generation, d.Resources, d.AntiAffinityGroup), ClusterJson.Default.Assignment)));
            moved.Add(result);
        }
        if (moved.Count == 0)
        {
            return moved;
        }
        AddNodeUpdates(txn, plan, nodes);
        return await CommitAsync(txn, leader, moved.Count, ct).ConfigureAwait(false) ? moved : [];
    }

    private static TxnRequest Fence(LeaderKey leader)
    {
        var txn = new TxnRequest();
        txn.Compare.Add(ClusterCodec.CreatedAt(leader.Key.ToStringUtf8(), leader.Rev));
        txn.Failure.Add(new RequestOp { RequestRange = new RangeRequest { Key = leader.Key } });
        return txn;
    }

    /// <summary>Each node placed on: compare its record's revision, write its free resources after the plan.</summary>
    private static void AddNodeUpdates(TxnRequest txn, SchedulingPlan plan, IReadOnlyList<NodeView> nodes)
    {
        foreach (var name in plan.Placements.Select(p => p.Node).Distinct(StringComparer.Ordinal))
        {
            var view = nodes.First(n => n.Name == name);
            txn.Compare.Add(ClusterCodec.ModRevisionIs(ClusterKeys.Node(name), view.RecordRevision));
            txn.Success.Add(ClusterCodec.PutKeepLease(ClusterKeys.Node(name),
                ClusterCodec.Encode(view.Record! with { Free = ResourceAmounts.From(plan.FreeOn(name)) }, ClusterJson.Default.NodeRecord)));
        }
    }

    private async Task<bool> CommitAsync(TxnRequest txn, LeaderKey leader, int count, CancellationToken ct)
    {
        TxnResponse r;
        try
        {
            r = await etcd.TxnAsync(txn, ct).ConfigureAwait(false);
        }
        catch (EtcdRequestException e) when (e.Message.Contains("too many operations", StringComparison.Ordinal) && _batch > 1)
        {
            _batch = Math.Max(1, _batch / 2);
            LogBatchHalved(log, _batch, e.Message);
            return false;
        }
        if (r.Succeeded)
        {
            Interlocked.Add(ref _committed, count);
            return true;
        }
        var leaderNow = r.Responses[0].ResponseRange.Kvs;
        if (leaderNow.Count == 0 || leaderNow[0].CreateRevision != leader.Rev)
        {
            throw new NotLeaderException($"the leader key {leader.Key.ToStringUtf8()} (revision {leader.Rev}) is gone; another node leads");
        }
        Interlocked.Increment(ref _conflicts);
        LogConflict(log, count);
        return false;
    }

    [LoggerMessage(EventId = 1920, Level = LogLevel.Debug, Message = "Cluster: a commit of {Count} placements failed its compare (a node or instance changed); planning again")]
    private static partial void LogConflict(ILogger log, int count);

    [LoggerMessage(EventId = 1921, Level = LogLevel.Warning, Message = "Cluster: placement batch lowered to {Batch}: {Reason} (raise etcd's --max-txn-ops)")]
    private static partial void LogBatchHalved(ILogger log, int batch, string reason);

    [LoggerMessage(EventId = 1922, Level = LogLevel.Warning, Message = "Cluster: lost instance {Project}/{Name} has no other node to go to: {Reason}")]
    private static partial void LogNoReplacement(ILogger log, string project, string name, string reason);
}
