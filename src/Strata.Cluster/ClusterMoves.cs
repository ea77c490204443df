using Strata.Cluster.Etcd;
using Strata.Contracts;

namespace Strata.Cluster;

/// <summary>
/// A move of an instance from one node to another by node name (docs/move.md "Inside a cluster"): a
/// <see cref="MoveMarker"/> written before it starts keeps both node agents off the instance, and the switch moves
/// the assignment (same generation) from the source to the target and deletes the marker in one transaction.
/// </summary>
public static class ClusterMoves
{
    /// <summary>Writes the marker under <paramref name="lease"/> (the source node's); a move of the same instance already running is a conflict.</summary>
    public static async Task BeginAsync(EtcdConnection etcd, string project, string name, MoveMarker marker, long lease, CancellationToken ct)
    {
        var key = ClusterKeys.Move(project, name);
        var txn = new Etcdserverpb.TxnRequest();
        txn.Compare.Add(ClusterCodec.Absent(key));
        txn.Success.Add(ClusterCodec.Put(key, ClusterCodec.Encode(marker, ClusterJson.Default.MoveMarker), lease));
        if (!(await etcd.TxnAsync(txn, ct).ConfigureAwait(false)).Succeeded)
        {
            throw StrataException.Conflict($"instance '{name}' is already being moved; wait until that move ends (strata operation ls)");
        }
    }

    /// <summary>
    /// The switch: the assignment goes from the source to the target with its generation, the instance record
    /// names the target, the source's state report and the marker go, and the two node records' free resources
    /// follow the instance (the source gets them back, the target gives them up), so the scheduler sees it where it
    /// now runs. False when the marker or the assignment changed meanwhile (the source lost its lease, or the
    /// instance was removed): nothing is changed then. A node record changed by a placement meanwhile is read again.
    /// </summary>
    public static async Task<bool> SwitchAsync(EtcdConnection etcd, string project, string name, MoveMarker marker, CancellationToken ct)
    {
        var moveKey = ClusterKeys.Move(project, name);
        var from = ClusterKeys.Assignment(marker.Source, project, name);
        var instanceKey = ClusterKeys.Instance(project, name);
        string[] nodeKeys = [ClusterKeys.Node(marker.Source), ClusterKeys.Node(marker.Target)];
        long[]? fenced = null;
        for (var attempt = 0; attempt < 20; attempt++)
        {
            var read = new Etcdserverpb.TxnRequest();
            foreach (var key in (string[])[moveKey, from, instanceKey, .. nodeKeys])
            {
                read.Success.Add(ClusterCodec.Get(key));
            }
            var now = await etcd.TxnAsync(read, ct).ConfigureAwait(false);
            var kvs = now.Responses.Select(r => r.ResponseRange.Kvs.FirstOrDefault()).ToList();
            if (kvs.Take(3).Any(kv => kv is null) || ClusterCodec.Decode(kvs[0]!, ClusterJson.Default.MoveMarker) != marker)
            {
                return false;
            }
            var revisions = kvs.Take(3).Select(kv => kv!.ModRevision).ToArray();
            if (fenced is not null && !fenced.SequenceEqual(revisions))
            {
                return false; // the marker, the assignment or the instance changed since the first read
            }
            fenced = revisions;
            var desired = ClusterCodec.Decode(kvs[2]!, ClusterJson.Default.DesiredInstance);
            var assignment = ClusterCodec.Decode(kvs[1]!, ClusterJson.Default.Assignment);
            var txn = new Etcdserverpb.TxnRequest();
            txn.Compare.Add(ClusterCodec.ModRevisionIs(moveKey, revisions[0]));
            txn.Compare.Add(ClusterCodec.ModRevisionIs(from, revisions[1]));
            txn.Compare.Add(ClusterCodec.ModRevisionIs(instanceKey, revisions[2]));
            txn.Success.Add(ClusterCodec.Delete(from));
            txn.Success.Add(ClusterCodec.Put(ClusterKeys.Assignment(marker.Target, project, name), kvs[1]!.Value));
            txn.Success.Add(ClusterCodec.Put(instanceKey, ClusterCodec.Encode(desired with { Node = marker.Target }, ClusterJson.Default.DesiredInstance)));
            txn.Success.Add(ClusterCodec.Delete(ClusterKeys.State(marker.Source, project, name)));
            txn.Success.Add(ClusterCodec.Delete(moveKey));
            // The free resources, fenced like a placement's; an offline node's record is rebuilt from its assignments when it registers.
            for (var i = 0; i < 2; i++)
            {
                if (kvs[3 + i] is not { } nodeKv)
                {
                    continue;
                }
                var record = ClusterCodec.Decode(nodeKv, ClusterJson.Default.NodeRecord);
                var share = assignment.Resources.ToResources();
                var free = i == 0 ? record.Free.ToResources() + share : record.Free.ToResources() - share;
                txn.Compare.Add(ClusterCodec.ModRevisionIs(nodeKeys[i], nodeKv.ModRevision));
                txn.Success.Add(ClusterCodec.PutKeepLease(nodeKeys[i], ClusterCodec.Encode(record with { Free = ResourceAmounts.From(free) }, ClusterJson.Default.NodeRecord)));
            }
            if ((await etcd.TxnAsync(txn, ct).ConfigureAwait(false)).Succeeded)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// Whether this move's switch took effect: the marker is gone and the target holds the assignment. For a switch
    /// whose answer was lost (etcd unreachable after the request left): the transaction may have been applied.
    /// </summary>
    public static async Task<bool> SwitchedAsync(EtcdConnection etcd, string project, string name, MoveMarker marker, CancellationToken ct)
    {
        var read = new Etcdserverpb.TxnRequest();
        read.Success.Add(ClusterCodec.Get(ClusterKeys.Move(project, name)));
        read.Success.Add(ClusterCodec.Get(ClusterKeys.Assignment(marker.Target, project, name)));
        var now = await etcd.TxnAsync(read, ct).ConfigureAwait(false);
        return now.Responses[0].ResponseRange.Kvs.Count == 0 && now.Responses[1].ResponseRange.Kvs.Count > 0;
    }

    /// <summary>Removes the marker after a move that did not switch (nothing changed: the assignment stays the source's).</summary>
    public static Task EndAsync(EtcdConnection etcd, string project, string name, CancellationToken ct) =>
        etcd.DeleteAsync(ClusterKeys.Move(project, name), ct);

    /// <summary>The marker of a move of this instance, or null.</summary>
    public static async Task<MoveMarker?> FindAsync(EtcdConnection etcd, string project, string name, CancellationToken ct) =>
        (await etcd.GetAsync(ClusterKeys.Move(project, name), ct).ConfigureAwait(false)).Kvs.FirstOrDefault() is { } kv
            ? ClusterCodec.Decode(kv, ClusterJson.Default.MoveMarker)
            : null;

    /// <summary>Every instance being moved now, as (project, name).</summary>
    public static async Task<HashSet<(string Project, string Name)>> MovingAsync(EtcdConnection etcd, CancellationToken ct) =>
        [.. (await etcd.GetPrefixAsync(ClusterKeys.Moves, keysOnly: true, ct: ct).ConfigureAwait(false)).Kvs.Select(kv => ClusterKeys.ProjectAndName(ClusterCodec.Key(kv)))];
}
