using Strata.Cluster;
using Strata.Cluster.Etcd;
using Strata.Contracts;
using Strata.Control;
using Strata.Store;

namespace Strata.Daemon.Cluster;

/// <summary>
/// A cluster node's count of live resizes: an instance the cluster placed here (it carries its generation label,
/// <see cref="DaemonWorkloads.GenerationLabel"/>) is resized against its project's quota in etcd, across every node
/// (<see cref="ClusterInstances.ResizeAsync"/>), so <c>strata resize</c>, <c>recommend --apply</c> and the
/// <c>auto</c> loop on any node never take a project past its quota together. etcd without quorum refuses the
/// resize with 503 (the tier is not asked).
/// </summary>
public sealed class ClusterResizeQuota(ClusterInstances instances) : IResizeQuota
{
    public bool Counts(InstanceRecord record) => record.Spec.Labels?.ContainsKey(DaemonWorkloads.GenerationLabel) == true;

    public async Task<ResourceSpec?> ClaimAsync(InstanceRecord record, long? memoryBytes, double? cpus, CancellationToken ct)
    {
        try
        {
            return await instances.ResizeAsync(record.Project, record.Name, memoryBytes, cpus, ct).ConfigureAwait(false);
        }
        catch (EtcdUnavailableException e)
        {
            throw new StrataException(ErrorKind.Unavailable, $"cannot resize '{record.Name}' now: its project's quota is counted in etcd, which did not answer ({e.Message}); the resize was not applied, try again once etcd has quorum", inner: e);
        }
    }

    public Task ReleaseAsync(InstanceRecord record, ResourceSpec? counted, CancellationToken ct) =>
        instances.RestoreLimitsAsync(record.Project, record.Name, counted, ct);
}
