using Microsoft.Extensions.Logging;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Control.Projects;
using Strata.Policy.Admission;
using Strata.Store;

namespace Strata.Control;

public sealed partial class InstanceService
{
    // ---------------------------------------------------------------- delete

    public async Task DeleteAsync(string project, string name, bool force, CancellationToken cancellationToken)
    {
        var entry = Find(project, name);
        if (force && entry.Record.State.IsActive())
        {
            await StopAsync(project, name, TimeSpan.Zero, cancellationToken).ConfigureAwait(false);
        }
        await entry.Lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var record = entry.Record;
            if (record.State == InstanceState.Deleted)
            {
                return;
            }
            InstanceStateMachine.EnsureTransition(name, record.State, InstanceState.Deleted, "remove");
            await DeleteLockedAsync(entry).ConfigureAwait(false);
        }
        finally
        {
            entry.Lock.Release();
        }
    }

    /// <param name="deferCleanup">
    /// Forget the instance first (store row, name) and release its resources (driver delete, directory) in the
    /// background: the auto-removal of a finished instance, so an attached client learns the exit code and can
    /// reuse the name at once. A removal marker in the directory makes this crash-safe: the next start's orphan
    /// sweep finishes the driver's part.
    /// </param>
    private async Task DeleteLockedAsync(Entry entry, bool deferCleanup = false)
    {
        var record = entry.Record;
        var directory = InstanceDirectory(record.Id);
        var driver = _drivers.Find(record.Tier);
        if (deferCleanup && record.Handle is { } deferred && driver is not null && RemovalMarker.TryWrite(directory, record.Tier, deferred))
        {
            Track(Task.Run(async () =>
            {
                try
                {
                    await driver.DeleteAsync(deferred, CancellationToken.None).ConfigureAwait(false);
                    TryDeleteDirectory(directory);
                    RunTimeline.Mark("directory removed");
                    if (System.Diagnostics.Activity.Current is { OperationName: RunTimeline.ActivityName } timeline && _log.IsEnabled(LogLevel.Debug))
                    {
                        LogRemovalTimeline(record.Name, RunTimeline.Format(timeline));
                    }
                }
                catch (Exception e)
                {
                    LogBackgroundFailure(record.Name, "remove (the next daemon start retries)", e);
                }
            }, CancellationToken.None));
        }
        else
        {
            if (record.Handle is { } handle && driver is not null)
            {
                await driver.DeleteAsync(handle, CancellationToken.None).ConfigureAwait(false);
            }
            TryDeleteDirectory(directory);
            RunTimeline.Mark("directory removed");
        }
        if (!entry.Ephemeral)
        {
            await _store.DeleteAsync(record.Id, CancellationToken.None).ConfigureAwait(false);
            RunTimeline.Mark("store delete");
        }
        entry.Record = record with { State = InstanceState.Deleted, Revision = record.Revision + 1 };
        _entries.TryRemove(record.Id, out _);
        _names.TryRemove(Key(record.Project, record.Name), out _);
        entry.Exit.TrySetResult(entry.Record);
        _events.Publish("deleted", View(entry.Record));
    }

    private async Task RemoveFinishedAsync(Entry entry)
    {
        await entry.Lock.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            if (entry.Record.State.IsFinished())
            {
                await DeleteLockedAsync(entry, deferCleanup: true).ConfigureAwait(false);
            }
        }
        catch (Exception e)
        {
            LogBackgroundFailure(entry.Record.Name, "auto-remove", e);
        }
        finally
        {
            entry.Lock.Release();
        }
    }
}
