using Strata.Cluster.Etcd;
using Strata.Contracts;
using Strata.Scheduler;

namespace Strata.Cluster;

/// <summary>
/// A move by node name as the source node asks it (<c>strata move NAME --node TARGET</c>): the instance, where it
/// runs, its tier, whether it moves live, and the accelerator and CPU model its guest runs with (null for tiers
/// without a guest).
/// </summary>
public sealed record MoveAsk(string Project, string Name, string Source, string Target, string Tier, bool Live,
    string? Accelerator = null, string? CpuModel = null);

/// <summary>
/// What a move by node name checks before it starts anything (no marker, no call to the target): the target is in the
/// cluster, online, not draining, offers the tier, speaks plain HTTP; a live guest's CPU model runs there
/// (<see cref="CpuBaseline.CannotRun"/>); and the target's free CPU and memory cover what the instance reserves.
/// Each refusal names the problem and the fix.
/// </summary>
public static class MoveTargetCheck
{
    /// <summary>Checks <paramref name="ask"/> against the cluster as etcd holds it now; returns the target's record.</summary>
    public static async Task<NodeRecord> CheckAsync(EtcdConnection etcd, MoveAsk ask, CancellationToken ct)
    {
        var nodes = await ClusterView.NodesAsync(etcd, ct).ConfigureAwait(false);
        var instance = (await etcd.GetAsync(ClusterKeys.Instance(ask.Project, ask.Name), ct).ConfigureAwait(false)).Kvs.FirstOrDefault() is { } kv
            ? ClusterCodec.Decode(kv, ClusterJson.Default.DesiredInstance) : null;
        return Check(nodes, instance, ask);
    }

    /// <summary>The same checks on a read view: <paramref name="instance"/> is the instance's record (null: not yet in etcd).</summary>
    public static NodeRecord Check(IReadOnlyList<NodeView> nodes, DesiredInstance? instance, MoveAsk ask)
    {
        var to = ask.Target;
        var target = nodes.FirstOrDefault(n => n.Name == to)
            ?? throw StrataException.NotFound($"node '{to}' is not in the cluster; name one that 'strata node ls' lists");
        if (target.Name == ask.Source)
        {
            throw StrataException.Invalid("node", $"instance '{ask.Name}' already runs on node {to}; name another node (strata node ls)");
        }
        if (target.Record is not { } record)
        {
            throw new StrataException(ErrorKind.Unavailable, $"node {to} is offline; bring it back or name another node (strata node ls)");
        }
        if (target.Settings.Draining)
        {
            throw StrataException.Conflict($"node {to} is draining and takes nothing new; undrain it first (strata node undrain {to}) or name another node");
        }
        if (!record.Tiers.Any(t => t.Tier == ask.Tier))
        {
            throw StrataException.Invalid("node", $"node {to} does not offer the {ask.Tier} tier (it offers {string.Join(", ", record.Tiers.Select(t => t.Tier))}); name another node");
        }
        _ = record.RequirePin();
        if (ask.Live && ask.Accelerator is { } accel)
        {
            var source = nodes.FirstOrDefault(n => n.Name == ask.Source)?.Record;
            if (CpuBaseline.CannotRun(ask.Name, accel, ask.CpuModel, (ask.Source, source?.Cpu), (to, record.Cpu)) is { } why)
            {
                throw StrataException.Conflict("cannot move live: " + why);
            }
        }
        if (instance is not null)
        {
            var need = instance.Resources.ToResources();
            var free = record.Free.ToResources();
            if (need.CpuMillis > free.CpuMillis || need.MemoryBytes > free.MemoryBytes)
            {
                throw StrataException.Conflict(
                    $"node {to} has {Resources.Bytes(Math.Max(0, free.MemoryBytes))} memory and {Resources.Cpu(Math.Max(0, free.CpuMillis))} free, " +
                    $"and instance '{ask.Name}' needs {Resources.Bytes(need.MemoryBytes)} memory and {Resources.Cpu(need.CpuMillis)}; " +
                    "name another node with room (strata node ls shows each node's free memory and CPU) or free some on " + to);
            }
        }
        return record;
    }
}
