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
    /// The placement amounts (<see cref="DesiredInstance.Resources"/>, and the node's free resources that placement
    /// took them from) stay at the create size: this counts the project's quota, not the node's capacity.
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
            var txn = new TxnRequest();
            txn.Compare.Add(ClusterCodec.ModRevisionIs(key, kv.ModRevision));
            txn.Compare.Add(ClusterCodec.ModRevisionIs(usageKey, usageKv?.ModRevision ?? 0));
            // The project's quota as checked: one lowered meanwhile is read again (absent: no quota, and none appeared).
            txn.Compare.Add(ClusterCodec.ModRevisionIs(projectKey, projectKv?.ModRevision ?? 0));
            txn.Success.Add(ClusterCodec.Put(key, ClusterCodec.Encode(
                d with { Spec = JsonSerializer.Serialize(spec with { Resources = after }, StrataJsonContext.Default.InstanceSpec) }, ClusterJson.Default.DesiredInstance)));
            txn.Success.Add(ClusterCodec.Put(usageKey, ClusterCodec.Encode(Recount(usage, before, after), ClusterJson.Default.ProjectUsage)));
            if ((await etcd.TxnAsync(txn, ct).ConfigureAwait(false)).Succeeded)
            {
                return before;
            }
            // Another admission, resize, deletion or quota change came first: read again (with jitter under contention).
            if (attempt > 3)
            {
                await Task.Delay(Random.Shared.Next(1, 5 + Math.Min(attempt, 50)), ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>A usage with one instance's memory and CPUs counted at <paramref name="to"/> instead of <paramref name="from"/>.</summary>
    private static ProjectUsage Recount(ProjectUsage u, ResourceSpec? from, ResourceSpec to) => u with
    {
        Cpus = Math.Max(0, u.Cpus - (from?.Cpus ?? 0) + (to.Cpus ?? 0)),
        MemoryBytes = Math.Max(0, u.MemoryBytes - (from?.MemoryBytes ?? 0) + (to.MemoryBytes ?? 0)),
    };
}
