using Microsoft.Extensions.Logging;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Control.Projects;
using Strata.Policy.Admission;
using Strata.Store;

namespace Strata.Control;

public sealed partial class InstanceService
{
    // ---------------------------------------------------------------- start / stop / kill

    public async Task<InstanceRecord> StartAsync(string project, string name, CancellationToken cancellationToken)
    {
        var entry = Find(project, name);
        await entry.Lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var record = entry.Record;
            InstanceStateMachine.EnsureTransition(name, record.State, InstanceState.Running, "start");
            var restarting = record.State != InstanceState.Created;
            await StartLockedAsync(entry, restarting ? record.RestartCount : 0, cancellationToken).ConfigureAwait(false);
            return entry.Record;
        }
        finally
        {
            entry.Lock.Release();
        }
    }

    /// <param name="launch">How to start the workload; default <see cref="IDriver.StartAsync"/> (a restore passes its own).</param>
    private async Task StartLockedAsync(Entry entry, int restartCount, CancellationToken cancellationToken, Func<IDriver, DriverHandle, Task<DriverHandle>>? launch = null)
    {
        var record = entry.Record;
        var driver = _drivers.Get(record.Tier);
        DriverHandle handle;
        try
        {
            handle = launch is null
                ? await driver.StartAsync(record.Handle!, cancellationToken).ConfigureAwait(false)
                : await launch(driver, record.Handle!).ConfigureAwait(false);
            RunTimeline.Mark("driver start");
        }
        catch (StrataException e) when (e.Kind != ErrorKind.Cancelled)
        {
            await CommitAsync(entry, record with
            {
                State = InstanceState.Failed,
                Reason = $"start failed: {e.Message}",
                FinishedAt = _time.GetUtcNow(),
            }, "failed").ConfigureAwait(false);
            throw;
        }
        entry.ResetExit();
        await CommitAsync(entry, record with
        {
            State = InstanceState.Running,
            Handle = handle,
            ExitCode = null,
            Reason = null,
            StoppedByUser = false,
            RestartCount = restartCount,
            StartedAt = _time.GetUtcNow(),
            FinishedAt = null,
        }, restartCount > record.RestartCount ? "restarted" : "started").ConfigureAwait(false);
        RunTimeline.Mark("store running");
        Watch(entry, driver, handle);
    }

    public async Task<InstanceRecord> StopAsync(string project, string name, TimeSpan grace, CancellationToken cancellationToken)
    {
        var entry = Find(project, name);
        Task<InstanceRecord> finished;
        await entry.Lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var record = entry.Record;
            if (record.State.IsFinished() || record.State == InstanceState.Created)
            {
                // Stopping what is not running is a no-op, as in docker/podman.
                return record;
            }
            if (record.State != InstanceState.Stopping)
            {
                InstanceStateMachine.EnsureTransition(name, record.State, InstanceState.Stopping, "stop");
                await CommitAsync(entry, record with { State = InstanceState.Stopping, StoppedByUser = true }, "stopping").ConfigureAwait(false);
            }
            finished = entry.Exit.Task;
        }
        finally
        {
            entry.Lock.Release();
        }

        var driver = _drivers.Find(entry.Record.Tier)!;
        await driver.StopAsync(entry.Record.Handle!, grace, cancellationToken).ConfigureAwait(false);
        return await finished.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task<InstanceRecord> KillAsync(string project, string name, int signal, CancellationToken cancellationToken)
    {
        if (signal is < 1 or > 64)
        {
            throw StrataException.Invalid("signal", $"{signal} is not a signal number; use 1-64 (9 = SIGKILL, 15 = SIGTERM)");
        }
        var entry = Find(project, name);
        await entry.Lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var record = entry.Record;
            if (!record.State.IsActive())
            {
                throw StrataException.Conflict($"cannot kill instance '{name}': it is {record.State.ToName()}, not running");
            }
            if (!record.StoppedByUser)
            {
                await CommitAsync(entry, record with { StoppedByUser = true }, null).ConfigureAwait(false);
            }
            await _drivers.Find(record.Tier)!.KillAsync(record.Handle!, signal, cancellationToken).ConfigureAwait(false);
            return entry.Record;
        }
        finally
        {
            entry.Lock.Release();
        }
    }

    /// <summary>Completes when the instance has finished (stopped, exited or failed); returns its final record.</summary>
    public async Task<InstanceRecord> WaitAsync(string project, string name, CancellationToken cancellationToken)
    {
        var entry = Find(project, name);
        var record = entry.Record;
        if (record.State.IsFinished())
        {
            return record;
        }
        return await entry.Exit.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Holds the instance for an attached client: while held, an auto-remove instance is not removed
    /// when it finishes, so the client can read its logs and exit code first. Dispose removes it then.
    /// </summary>
    public AttachLease Attach(string project, string name)
    {
        var entry = Find(project, name);
        Interlocked.Increment(ref entry.Attached);
        return new AttachLease(this, entry);
    }

    public sealed class AttachLease : IAsyncDisposable
    {
        private readonly InstanceService _service;
        private readonly Entry _entry;

        internal AttachLease(InstanceService service, Entry entry)
        {
            _service = service;
            _entry = entry;
        }

        public InstanceRecord Record => _entry.Record;

        public Task<InstanceRecord> Finished => _entry.Record.State.IsFinished() ? Task.FromResult(_entry.Record) : _entry.Exit.Task;

        public string Directory => _service.InstanceDirectory(_entry.Record.Id);

        /// <summary>
        /// Where the instance's output is: in memory when its driver keeps it there (<see cref="IMemoryLogDriver"/>),
        /// else null and the CRI files under <see cref="LogDirectory"/>.
        /// </summary>
        public IMemoryLog? MemoryLog => (_service._drivers.Find(_entry.Record.Tier) as IMemoryLogDriver)?.FindLog(_entry.Record.Id);

        /// <summary>The directory of the instance's CRI log files (<see cref="InstanceLogs"/>).</summary>
        public string LogDirectory => InstanceLogs.DirectoryOf(Directory);

        private int _disposed;

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
            {
                return;
            }
            if (Interlocked.Decrement(ref _entry.Attached) == 0 && _entry.Record.Spec.AutoRemove && _entry.Record.State.IsFinished())
            {
                await _service.RemoveFinishedAsync(_entry).ConfigureAwait(false);
            }
        }
    }
}
