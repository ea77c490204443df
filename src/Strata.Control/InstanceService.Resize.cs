using Microsoft.Extensions.Logging;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Contracts.Host;
using Strata.Policy.Admission;
using Strata.Store;

namespace Strata.Control;

public sealed partial class InstanceService
{
    /// <summary>
    /// Changes an instance's memory and vCPUs in place, for tiers that can (<see cref="IResizeDriver"/>). The driver
    /// decides what a stopped instance allows (the container and process tiers keep the limits for its next start;
    /// the vm tier needs it running). Limits a tier keeps (<see cref="ResizeResult.Kept"/>) go into the spec too, so
    /// inspect shows them. <paramref name="why"/> is the event's detail (right-sizing says its reason).
    /// A growth is checked against the project's quota first: across the cluster when <see cref="ControlOptions.ResizeQuota"/>
    /// counts the instance (given back if the tier then fails or keeps nothing), else against this daemon's instances.
    /// </summary>
    public async Task<ResizeResult> ResizeAsync(string project, string name, long? memoryBytes, double? cpus, CancellationToken cancellationToken, string? why = null)
    {
        if (memoryBytes is null && cpus is null)
        {
            throw StrataException.Invalid("memoryBytes", "give the new memory size, the new vCPU count, or both");
        }
        var entry = Find(project, name);
        await entry.Lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var record = entry.Record;
            if (_drivers.Find(record.Tier) is not IResizeDriver driver || driver is not IDriver { Capabilities.LiveResize: true })
            {
                throw StrataException.Conflict($"the {record.Tier.ToName()} tier cannot resize a running instance (instance '{name}')");
            }
            if (record.Handle is null || record.State is InstanceState.Creating or InstanceState.Deleted)
            {
                throw StrataException.Conflict($"instance '{name}' is {record.State.ToName()}; resize changes an instance its tier has made");
            }
            var resources = (record.Spec.Resources ?? new ResourceSpec()) with
            {
                MemoryBytes = memoryBytes ?? record.Spec.Resources?.MemoryBytes,
                Cpus = cpus ?? record.Spec.Resources?.Cpus,
            };
            var wide = _options.ResizeQuota is { } q && q.Counts(record) ? q : null;
            // What the resize took from a count wider than this daemon's goes back unless the tier keeps the new limits.
            await using var revert = new Revert(e => LogResizeNotGivenBack(name, project, e.Message));
            if (wide is null)
            {
                ReserveGrowth(entry, resources);
            }
            else
            {
                var counted = await wide.ClaimAsync(record, memoryBytes, cpus, cancellationToken).ConfigureAwait(false);
                revert.AddAsync(() => wide.ReleaseAsync(record, counted, CancellationToken.None));
            }
            try
            {
                var result = await driver.ResizeAsync(record.Handle, memoryBytes, cpus, cancellationToken).ConfigureAwait(false);
                if (result.Kept)
                {
                    revert.Success();
                    await CommitAsync(entry, record with { Spec = record.Spec with { Resources = resources } }, null).ConfigureAwait(false);
                }
                else
                {
                    await revert.UndoAsync().ConfigureAwait(false); // the tier keeps its spec's size (a VM's boot size): so does the count
                }
                _events.Publish("resized", View(entry.Record), ResizeDetail(memoryBytes, cpus, why));
                return result;
            }
            finally
            {
                lock (_admission)
                {
                    entry.ResizeReservation = null;
                }
            }
        }
        finally
        {
            entry.Lock.Release();
        }
    }

    /// <summary>
    /// A resize that grows an instance's memory or CPUs is admitted like a create: under <see cref="_admission"/>,
    /// against its project's quota with the instance counted at the new size, which stays reserved (counted by
    /// <see cref="Usage"/>) until the resize is committed or fails, so concurrent creates and resizes never overshoot.
    /// A shrink is never refused (a project over a lowered quota can always give back). Refuses with 403 naming the quota.
    /// </summary>
    private void ReserveGrowth(Entry entry, ResourceSpec asked)
    {
        var record = entry.Record;
        var now = record.Spec.Resources;
        var grows = asked.MemoryBytes > (now?.MemoryBytes ?? 0) || asked.Cpus > (now?.Cpus ?? 0);
        if (!grows || _options.Projects?.Get(record.Project) is not { } project)
        {
            return;
        }
        lock (_admission)
        {
            var others = new ProjectUsage();
            foreach (var other in _entries.Values)
            {
                var r = other.Record;
                if (other != entry && r.Project == record.Project && r.State != InstanceState.Deleted)
                {
                    others = ProjectAdmission.Add(others, other.ResizeReservation is { } reserved ? r.Spec with { Resources = reserved } : r.Spec);
                }
            }
            ProjectAdmission.CheckQuota(record.Project, project.Quota with { Instances = null }, others, record.Spec with { Resources = asked });
            entry.ResizeReservation = asked;
        }
    }

    [LoggerMessage(EventId = 2080, Level = LogLevel.Warning,
        Message = "instance {Name} of project {Project}: a resize that the tier failed or did not keep could not give its quota back ({Why}); the project stays counted at the asked size until the instance is resized or removed")]
    private partial void LogResizeNotGivenBack(string name, string project, string why);
}
