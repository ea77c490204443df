using Strata.Contracts;
using Strata.Store;

namespace Strata.Control;

/// <summary>
/// Counts live resizes against a project's quota wider than this daemon's instances: in a cluster, the project's
/// use in etcd across every node. An instance it counts (<see cref="Counts"/>) is not checked against this
/// daemon's instances alone; one it does not (an instance that is not the cluster's) still is.
/// </summary>
public interface IResizeQuota
{
    /// <summary>Whether <paramref name="record"/>'s resizes are counted here rather than by this daemon's own check.</summary>
    bool Counts(InstanceRecord record);

    /// <summary>
    /// Counts the instance at <paramref name="memoryBytes"/> and <paramref name="cpus"/> (null: unchanged) before the
    /// tier applies them; a growth past the project's memory or CPU quota throws Forbidden naming the quota and the
    /// project's use. Returns what the instance was counted at before, for <see cref="ReleaseAsync"/>.
    /// </summary>
    Task<ResourceSpec?> ClaimAsync(InstanceRecord record, long? memoryBytes, double? cpus, CancellationToken ct);

    /// <summary>Counts the instance at <paramref name="counted"/> again (what <see cref="ClaimAsync"/> returned); never refused.</summary>
    Task ReleaseAsync(InstanceRecord record, ResourceSpec? counted, CancellationToken ct);
}
