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
    /// names the target, the source's state report and the marker go. False when the marker or the assignment
    /// changed meanwhile (the source lost its lease, or the instance was removed): nothing is changed then.
    /// </summary>
    public static async Task<bool> SwitchAsync(EtcdConnection etcd, string project, string name, MoveMarker marker, CancellationToken ct)
    {
        var moveKey = ClusterKeys.Move(project, name);
        var from = ClusterKeys.Assignment(marker.Source, project, name);
        var instanceKey = ClusterKeys.Instance(project, name);
        var read = new Etcdserverpb.TxnRequest();
        read.Success.Add(ClusterCodec.Get(moveKey));
        read.Success.Add(ClusterCodec.Get(from));
        read.Success.Add(ClusterCodec.Get(instanceKey));
        var now = await etcd.TxnAsync(read, ct).ConfigureAwait(false);
        var kvs = now.Responses.Select(r => r.ResponseRange.Kvs.FirstOrDefault()).ToList();
        if (kvs.Any(kv => kv is null))
        {
            return false;
        }
        var desired = ClusterCodec.Decode(kvs[2]!, ClusterJson.Default.DesiredInstance);
        var txn = new Etcdserverpb.TxnRequest();
        txn.Compare.Add(ClusterCodec.ModRevisionIs(moveKey, kvs[0]!.ModRevision));
        txn.Compare.Add(ClusterCodec.ModRevisionIs(from, kvs[1]!.ModRevision));
        txn.Compare.Add(ClusterCodec.ModRevisionIs(instanceKey, kvs[2]!.ModRevision));
        txn.Success.Add(ClusterCodec.Delete(from));
        txn.Success.Add(ClusterCodec.Put(ClusterKeys.Assignment(marker.Target, project, name), kvs[1]!.Value));
        txn.Success.Add(ClusterCodec.Put(instanceKey, ClusterCodec.Encode(desired with { Node = marker.Target }, ClusterJson.Default.DesiredInstance)));
        txn.Success.Add(ClusterCodec.Delete(ClusterKeys.State(marker.Source, project, name)));
        txn.Success.Add(ClusterCodec.Delete(moveKey));
        return (await etcd.TxnAsync(txn, ct).ConfigureAwait(false)).Succeeded;
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
