using Microsoft.Extensions.Logging;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Control.Projects;
using Strata.Policy.Admission;
using Strata.Store;

namespace Strata.Control;

public sealed partial class InstanceService
{
    // ---------------------------------------------------------------- start-up reconciliation

    /// <summary>
    /// Loads the store and makes it agree with reality: running workloads are reattached (same PIDs, never
    /// started twice), those that ended while the daemon was down get their real exit code, restart
    /// policies are applied, and creates interrupted by a crash are rolled back.
    /// </summary>
    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        var records = await _store.ListAsync(cancellationToken).ConfigureAwait(false);
        foreach (var record in records)
        {
            var entry = new Entry(record);
            _entries[record.Id] = entry;
            _names[Key(record.Project, record.Name)] = record.Id;
        }
        await SweepOrphanDirectoriesAsync().ConfigureAwait(false);
        foreach (var entry in _entries.Values.ToList())
        {
            try
            {
                await ReconcileAsync(entry, cancellationToken).ConfigureAwait(false);
                // A cold move of it that the previous daemon drove and did not finish (docs/move.md, "A daemon dies mid-move").
                SettleUnfinishedColdMoveOut(entry);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogBackgroundFailure(entry.Record.Name, "reconcile", e);
            }
        }
    }

    /// <summary>
    /// An instance directory without a record is what a crash during a driver's create leaves behind (or an
    /// ephemeral instance that was never stored): nothing was started from it, so it is removed. One with a
    /// removal marker is an auto-removed instance whose cleanup a crash interrupted: its driver finishes first
    /// (unmount, cgroups), so nothing is left behind.
    /// </summary>
    private async Task SweepOrphanDirectoriesAsync()
    {
        var root = Path.Combine(_options.Root, "instances");
        if (!Directory.Exists(root))
        {
            return;
        }
        foreach (var dir in Directory.EnumerateDirectories(root).ToList())
        {
            if (_entries.ContainsKey(Path.GetFileName(dir)))
            {
                continue;
            }
            if (RemovalMarker.TryRead(dir) is { } marker && _drivers.Find(marker.Tier) is { } driver)
            {
                try
                {
                    await driver.DeleteAsync(marker.Handle, CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    LogBackgroundFailure(Path.GetFileName(dir), "finish an interrupted removal", e);
                    continue; // keep the directory (and its marker) for the next start rather than delete into a mount
                }
            }
            TryDeleteDirectory(dir);
        }
    }

    private async Task ReconcileAsync(Entry entry, CancellationToken cancellationToken)
    {
        var record = entry.Record;
        var driver = _drivers.Find(record.Tier);
        switch (record.State)
        {
            case InstanceState.Pending or InstanceState.Creating:
                if (record.Handle is { } h && driver is not null)
                {
                    await driver.DeleteAsync(h, cancellationToken).ConfigureAwait(false);
                }
                await CommitAsync(entry, record with
                {
                    State = InstanceState.Failed,
                    Reason = "the daemon stopped while this instance was being created; remove it and create it again",
                    FinishedAt = _time.GetUtcNow(),
                }, "failed").ConfigureAwait(false);
                return;
            case InstanceState.Running or InstanceState.Stopping when record.Handle is { } handle:
                if (driver is null)
                {
                    await CommitAsync(entry, record with { State = InstanceState.Failed, Reason = $"no driver for tier {record.Tier.ToName()} in this build" }, "failed").ConfigureAwait(false);
                    return;
                }
                var status = await driver.RecoverAsync(handle, cancellationToken).ConfigureAwait(false);
                switch (status.Phase)
                {
                    case WorkloadPhase.Running:
                        LogReattached(record.Name, handle.Pid ?? 0);
                        Watch(entry, driver, handle);
                        // A live move of it that the previous daemon drove and did not finish (docs/move.md, "Crash windows").
                        await SettleUnfinishedMoveOutAsync(entry, driver, handle, cancellationToken).ConfigureAwait(false);
                        return;
                    case WorkloadPhase.Exited:
                        await OnExitedAsync(entry, status.Exit!, entry.Generation).ConfigureAwait(false);
                        return;
                    default:
                        // The supervisor died while the daemon was down; the driver found out what is true (and stopped what still ran).
                        await OnExitedAsync(entry, status.Exit ?? new ExitStatus
                        {
                            ExitCode = -1,
                            ExitCodeUnknown = true,
                            Failed = true,
                            Reason = status.Reason ?? "the workload's supervisor disappeared while the daemon was down",
                            FinishedAt = _time.GetUtcNow(),
                        }, entry.Generation).ConfigureAwait(false);
                        return;
                }
            case InstanceState.Exited when record.Spec.AutoRemove:
                await RemoveFinishedAsync(entry).ConfigureAwait(false);
                return;
            case InstanceState.Created:
                await ReconcileCreatedAsync(entry, driver, cancellationToken).ConfigureAwait(false);
                return;
        }
    }
}
