using Microsoft.Extensions.Logging;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Control.Projects;
using Strata.Policy.Admission;
using Strata.Store;

namespace Strata.Control;

public sealed partial class InstanceService
{
    // ---------------------------------------------------------------- watching and restarts

    private void Watch(Entry entry, IDriver driver, DriverHandle handle)
    {
        var generation = entry.Generation;
        Track(WatchAsync(entry, driver, handle, generation));
    }

    private void Track(Task task)
    {
        _background[task] = 0;
        task.ContinueWith(t => _background.TryRemove(t, out _), TaskScheduler.Default);
    }

    private async Task WatchAsync(Entry entry, IDriver driver, DriverHandle handle, int generation)
    {
        ExitStatus exit;
        try
        {
            exit = await driver.WaitAsync(handle, _shutdown.Token).ConfigureAwait(false);
            RunTimeline.Mark("exit detected");
            if (exit.FinishedAt != default)
            {
                RunTimeline.Mark("workload exited", exit.FinishedAt);
            }
        }
        catch (OperationCanceledException) when (_shutdown.IsCancellationRequested)
        {
            return; // daemon shutting down: the workload keeps running, the next daemon reattaches.
        }
        catch (Exception e)
        {
            exit = new ExitStatus { ExitCode = -1, ExitCodeUnknown = true, Failed = true, Reason = $"lost track of the workload: {e.Message}", FinishedAt = _time.GetUtcNow() };
        }
        await OnExitedAsync(entry, exit, generation).ConfigureAwait(false);
    }

    private async Task OnExitedAsync(Entry entry, ExitStatus exit, int generation)
    {
        bool restart;
        await entry.Lock.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            var record = entry.Record;
            if (entry.Generation != generation || !record.State.IsActive())
            {
                return;
            }
            var state = exit.Failed ? InstanceState.Failed
                : record.StoppedByUser ? InstanceState.Stopped
                : InstanceState.Exited;
            var finished = record with
            {
                State = state,
                // A lost supervisor saw no exit: no code is recorded that did not happen.
                ExitCode = exit.ExitCodeUnknown ? null : exit.ExitCode,
                Reason = exit.Reason,
                FinishedAt = exit.FinishedAt == default ? _time.GetUtcNow() : exit.FinishedAt,
            };
            RestartPolicy.TryParse(record.Spec.Restart, out var policy);
            restart = !exit.Failed && policy.ShouldRestart(exit.ExitCode, record.RestartCount, record.StoppedByUser);
            // An instance about to be auto-removed skips this write: if the daemon dies before the removal,
            // reconciliation finds it running, learns its exit from the driver and removes it then.
            await CommitAsync(entry, finished, state switch
            {
                InstanceState.Failed => "failed",
                InstanceState.Stopped => "stopped",
                _ => "exited",
            }, persist: restart || !record.Spec.AutoRemove).ConfigureAwait(false);
            RunTimeline.Mark("exit recorded");
            entry.Exit.TrySetResult(entry.Record);

            if (!restart && record.Spec.AutoRemove && Volatile.Read(ref entry.Attached) == 0)
            {
                await DeleteLockedAsync(entry, deferCleanup: true).ConfigureAwait(false);
                return;
            }
        }
        catch (Exception e)
        {
            LogBackgroundFailure(entry.Record.Name, "record exit", e);
            return;
        }
        finally
        {
            entry.Lock.Release();
        }
        if (restart)
        {
            Track(RestartAfterBackoffAsync(entry, generation));
        }
    }

    private async Task RestartAfterBackoffAsync(Entry entry, int generation)
    {
        // 100 ms, 200 ms, 400 ms ... capped at 10 s, so a crash loop cannot eat the host.
        var attempt = entry.Record.RestartCount;
        var delay = TimeSpan.FromMilliseconds(Math.Min(10_000, 100 * Math.Pow(2, Math.Min(attempt, 10))));
        try
        {
            await Task.Delay(delay, _time, _shutdown.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }
        await entry.Lock.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            // The user may have started, stopped or removed it meanwhile.
            if (entry.Generation != generation || entry.Record.State != InstanceState.Exited)
            {
                return;
            }
            await StartLockedAsync(entry, entry.Record.RestartCount + 1, _shutdown.Token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            LogBackgroundFailure(entry.Record.Name, "restart", e);
        }
        finally
        {
            entry.Lock.Release();
        }
    }
}
