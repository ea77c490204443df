using Microsoft.Extensions.Logging;
using Strata.Contracts;
using Strata.Contracts.Drivers;

namespace Strata.Control;

public sealed partial class InstanceService
{
    /// <summary>
    /// An instance recorded <c>created</c> whose start a crash cut short (see <see cref="InterruptedStart"/>): its
    /// PIDs were never recorded, so it cannot be adopted; the workload is stopped and every engine-side resource
    /// removed (mounts, cgroups, runtime state, network), and the record says so (<c>failed</c>). One that shows no
    /// trace of a start stays <c>created</c>: that is what it is.
    /// </summary>
    private async Task ReconcileCreatedAsync(Entry entry, IDriver? driver, CancellationToken cancellationToken)
    {
        var record = entry.Record;
        if (record.Handle is not { } handle || entry.Ephemeral)
        {
            return;
        }
        var traces = InterruptedStart.Find(handle.Directory);
        if (!traces.Any)
        {
            return;
        }
        await InterruptedStart.KillAsync(traces.Processes, TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        if (driver is not null)
        {
            await driver.DeleteAsync(handle, cancellationToken).ConfigureAwait(false);
        }
        LogInterruptedStart(record.Name, traces.Processes.Count, traces.Mounts.Count);
        await CommitAsync(entry, record with
        {
            State = InstanceState.Failed,
            Reason = "the daemon stopped while this instance was starting; its workload was stopped and cleaned up; remove it and create it again",
            FinishedAt = _time.GetUtcNow(),
        }, "failed").ConfigureAwait(false);
    }

    [LoggerMessage(EventId = 2005, Level = LogLevel.Warning, Message = "instance {Name} was recorded created but a start had begun before the daemon stopped: stopped {Processes} processes and removed {Mounts} mounts; it is now failed")]
    private partial void LogInterruptedStart(string name, int processes, int mounts);
}
