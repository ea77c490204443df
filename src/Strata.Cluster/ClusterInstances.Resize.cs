using System.Text.Json;
using Etcdserverpb;
using Strata.Cluster.Etcd;
using Strata.Contracts;
using Strata.Policy.Admission;

namespace Strata.Cluster;

public sealed partial class ClusterInstances
{
    /// <summary>
    /// Counts a live resize of a placed instance against its project's quota, cluster-wide: the instance's stored
    /// spec takes <paramref name="memoryBytes"/> and <paramref name="cpus"/> (null: unchanged) and the project's
    /// usage record (<c>usage/PROJECT</c>) the difference, in one transaction fenced on the instance's, the usage's
    /// and the project's revisions, read again when another admission, resize or deletion got there first. So two
    /// nodes growing instances of one project at once never take it past its quota together. A growth past the
    /// memory or CPU quota is refused with 403 naming the quota and the project's use across the cluster; a shrink
    /// is never refused. Another project's instance of the same name is not found. Returns the memory and CPUs the
    /// instance was counted at before, for <see cref="RestoreLimitsAsync"/> (a resize the node could not apply).
    /// </summary>
    /// <remarks>
    /// The placement amounts follow in the same transaction: the instance's <see cref="DesiredInstance.Resources"/>
    /// and its assignment take the new CPUs and memory, and its node's free resources give up (or get back) the
    /// difference, fenced on the node record's revision like a placement, so the scheduler sees what the node really
    /// holds. A growth the node has no room for is refused with 409 naming the node's free resources and the way out
    /// (a move to a node with room); a shrink is never refused. A node whose record is gone (offline) has its free
    /// resources rebuilt from its assignments when it registers again.
    /// </remarks>
    public Task<ResourceSpec?> ResizeAsync(string project, string name, long? memoryBytes, double? cpus, CancellationToken ct = default) =>
        SetLimitsAsync(project, name, now => now with { MemoryBytes = memoryBytes ?? now.MemoryBytes, Cpus = cpus ?? now.Cpus }, check: true, ct);

    /// <summary>
    /// Counts the instance at <paramref name="counted"/>'s memory and CPUs again (what <see cref="ResizeAsync"/>
    /// returned), in the same fenced transaction; never refused, since it gives back what a failed resize took.
    /// </summary>
    public Task RestoreLimitsAsync(string project, string name, ResourceSpec? counted, CancellationToken ct = default) =>
        SetLimitsAsync(project, name, now => now with { MemoryBytes = counted?.MemoryBytes, Cpus = counted?.Cpus }, check: false, ct);

    private async Task<ResourceSpec?> SetLimitsAsync(string project, string name, Func<ResourceSpec, ResourceSpec> change, bool check, CancellationToken ct)
    {
        var key = ClusterKeys.Instance(project, name);
        var usageKey = ClusterKeys.UsageOf(project);
        var projectKey = ClusterKeys.Project(project);
        for (var attempt = 0; ; attempt++)
        {
            var read = new TxnRequest();
            read.Success.Add(ClusterCodec.Get(key));
            read.Success.Add(ClusterCodec.Get(usageKey));
            read.Success.Add(ClusterCodec.Get(projectKey));
            var r = await etcd.TxnAsync(read, ct).ConfigureAwait(false);
            var kv = r.Responses[0].ResponseRange.Kvs.FirstOrDefault()
                ?? throw StrataException.NotFound($"instance '{name}' does not exist in project '{project}' or is not placed on a node yet (strata ps lists them)");
            var d = ClusterCodec.Decode(kv, ClusterJson.Default.DesiredInstance);
            var spec = SpecOf(d);
            var before = spec.Resources;
            var after = change(before ?? new ResourceSpec());
            var usageKv = r.Responses[1].ResponseRange.Kvs.FirstOrDefault();
            var usage = usageKv is null ? new ProjectUsage() : ClusterCodec.Decode(usageKv, ClusterJson.Default.ProjectUsage);
            var projectKv = r.Responses[2].ResponseRange.Kvs.FirstOrDefault();
            if (check && projectKv is not null && ClusterCodec.Decode(projectKv, ClusterJson.Default.ClusterProject).Quota is { } quota)
            {
                ProjectAdmission.CheckResize(project, name, quota, usage, before, after, "across the cluster, on every node");
            }
            if (after.MemoryBytes == before?.MemoryBytes && after.Cpus == before?.Cpus)
            {
                return before; // nothing to count
            }
            var placed = PlacedAt(d, before, after);
            var txn = new TxnRequest();
            txn.Compare.Add(ClusterCodec.ModRevisionIs(key, kv.ModRevision));
            txn.Compare.Add(ClusterCodec.ModRevisionIs(usageKey, usageKv?.ModRevision ?? 0));
            // The project's quota as checked: one lowered meanwhile is read again (absent: no quota, and none appeared).
            txn.Compare.Add(ClusterCodec.ModRevisionIs(projectKey, projectKv?.ModRevision ?? 0));
            txn.Success.Add(ClusterCodec.Put(key, ClusterCodec.Encode(
                d with { Resources = placed, Spec = JsonSerializer.Serialize(spec with { Resources = after }, StrataJsonContext.Default.InstanceSpec) },
                ClusterJson.Default.DesiredInstance)));
            txn.Success.Add(ClusterCodec.Put(usageKey, ClusterCodec.Encode(Recount(usage, before, after), ClusterJson.Default.ProjectUsage)));
            if (d.Node is { } node)
            {
                await TakeOnNodeAsync(txn, d, node, placed, check, ct).ConfigureAwait(false);
            }
            if ((await etcd.TxnAsync(txn, ct).ConfigureAwait(false)).Succeeded)
            {
                return before;
            }
            // Another admission, resize, deletion, placement or quota change came first: read again (with jitter under contention).
            if (attempt > 3)
            {
                await Task.Delay(Random.Shared.Next(1, 5 + Math.Min(attempt, 50)), ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// The placement amounts of <paramref name="d"/> with the limits that changed from <paramref name="before"/> to
    /// <paramref name="after"/> taken over (as placement counts them), the others as they were.
    /// </summary>
    private static ResourceAmounts PlacedAt(DesiredInstance d, ResourceSpec? before, ResourceSpec after)
    {
        var limits = ResourceAmounts.ForLimits(after);
        return d.Resources with
        {
            CpuMillis = after.Cpus == before?.Cpus ? d.Resources.CpuMillis : limits.CpuMillis,
            MemoryBytes = after.MemoryBytes == before?.MemoryBytes ? d.Resources.MemoryBytes : limits.MemoryBytes,
        };
    }

    /// <summary>
    /// Adds to <paramref name="txn"/> the instance's assignment on <paramref name="node"/> at <paramref name="placed"/>
    /// and the node record's free resources less the difference, both fenced on their revisions. With
    /// <paramref name="check"/>, a growth past the node's free CPU or memory is refused (409).
    /// </summary>
    private async Task TakeOnNodeAsync(TxnRequest txn, DesiredInstance d, string node, ResourceAmounts placed, bool check, CancellationToken ct)
    {
        var assignmentKey = ClusterKeys.Assignment(node, d.Project, d.Name);
        var nodeKey = ClusterKeys.Node(node);
        var read = new TxnRequest();
        read.Success.Add(ClusterCodec.Get(assignmentKey));
        read.Success.Add(ClusterCodec.Get(nodeKey));
        var r = await etcd.TxnAsync(read, ct).ConfigureAwait(false);
        var assignmentKv = r.Responses[0].ResponseRange.Kvs.FirstOrDefault();
        var nodeKv = r.Responses[1].ResponseRange.Kvs.FirstOrDefault();
        // Fenced even when absent: an assignment or node record that appears meanwhile is read again.
        txn.Compare.Add(ClusterCodec.ModRevisionIs(assignmentKey, assignmentKv?.ModRevision ?? 0));
        txn.Compare.Add(ClusterCodec.ModRevisionIs(nodeKey, nodeKv?.ModRevision ?? 0));
        if (assignmentKv is null)
        {
            return; // placed on no node yet (or its assignment moved): the placement will take the new amounts
        }
        var assignment = ClusterCodec.Decode(assignmentKv, ClusterJson.Default.Assignment);
        var grow = placed.ToResources() - assignment.Resources.ToResources();
        txn.Success.Add(ClusterCodec.Put(assignmentKey, ClusterCodec.Encode(assignment with { Resources = placed }, ClusterJson.Default.Assignment)));
        if (nodeKv is null)
        {
            return; // offline: its free resources are rebuilt from its assignments when it registers
        }
        var record = ClusterCodec.Decode(nodeKv, ClusterJson.Default.NodeRecord);
        var free = record.Free.ToResources();
        if (check && ((grow.CpuMillis > 0 && grow.CpuMillis > free.CpuMillis) || (grow.MemoryBytes > 0 && grow.MemoryBytes > free.MemoryBytes)))
        {
            throw StrataException.Conflict(
                $"node '{node}' has {Scheduler.Resources.Cpu(Math.Max(0, free.CpuMillis))} and {Scheduler.Resources.Bytes(Math.Max(0, free.MemoryBytes))} of memory free, "
                + $"and growing '{d.Name}' needs {Scheduler.Resources.Cpu(Math.Max(0, grow.CpuMillis))} and {Scheduler.Resources.Bytes(Math.Max(0, grow.MemoryBytes))} more; "
                + $"move it to a node with room first (strata node ls shows each node's free resources; strata move {d.Name} --node NODE) or shrink other instances on '{node}'");
        }
        txn.Success.Add(ClusterCodec.PutKeepLease(nodeKey, ClusterCodec.Encode(record with { Free = ResourceAmounts.From(free - grow) }, ClusterJson.Default.NodeRecord)));
    }

    /// <summary>A usage with one instance's memory and CPUs counted at <paramref name="to"/> instead of <paramref name="from"/>.</summary>
    private static ProjectUsage Recount(ProjectUsage u, ResourceSpec? from, ResourceSpec to) => u with
    {
        Cpus = Math.Max(0, u.Cpus - (from?.Cpus ?? 0) + (to.Cpus ?? 0)),
        MemoryBytes = Math.Max(0, u.MemoryBytes - (from?.MemoryBytes ?? 0) + (to.MemoryBytes ?? 0)),
    };
}
