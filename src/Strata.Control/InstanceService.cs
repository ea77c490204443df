using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Control.Projects;
using Strata.Policy.Admission;
using Strata.Store;

namespace Strata.Control;

/// <summary>
/// The control plane for instances: validates requests, drives the state machine, persists every
/// transition before it is announced, watches running workloads, applies restart policies, and
/// reconciles the store with reality when the daemon starts.
///
/// Reads come from an in-memory view that is written through to the <see cref="IStateStore"/>; writes
/// to one instance are serialised by that instance's lock.
/// </summary>
public sealed partial class InstanceService : IAsyncDisposable
{
    public const string DefaultProject = "default";

    private readonly IStateStore _store;
    private readonly DriverRegistry _drivers;
    private readonly EventBus _events;
    private readonly ControlOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _names = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _shutdown = new();
    private readonly Lock _admission = new();
    private readonly ConcurrentDictionary<Task, byte> _background = new();
    private int _disposed;

    public InstanceService(IStateStore store, DriverRegistry drivers, EventBus events, ControlOptions options, TimeProvider time, ILogger<InstanceService> log)
    {
        _store = store;
        _drivers = drivers;
        _events = events;
        _options = options;
        _time = time;
        _log = log;
    }

    public DriverRegistry Drivers => _drivers;

    public string StoreDescription => _store.Description;

    public string InstanceDirectory(string id) => Path.Combine(_options.Root, "instances", id);

    // ---------------------------------------------------------------- reads

    public IReadOnlyList<InstanceRecord> List(string? project = null)
    {
        var list = new List<InstanceRecord>(_entries.Count);
        foreach (var entry in _entries.Values)
        {
            var r = entry.Record;
            if (r.State != InstanceState.Deleted && (project is null || r.Project == project))
            {
                list.Add(r);
            }
        }
        list.Sort(static (a, b) => a.CreatedAt != b.CreatedAt ? a.CreatedAt.CompareTo(b.CreatedAt) : string.CompareOrdinal(a.Name, b.Name));
        return list;
    }

    public InstanceRecord Get(string project, string name) => Find(project, name).Record;

    private Entry Find(string project, string name)
    {
        if (_names.TryGetValue(Key(project, name), out var id) && _entries.TryGetValue(id, out var entry) && entry.Record.State != InstanceState.Deleted)
        {
            return entry;
        }
        throw StrataException.NotFound($"no instance named '{name}' in project '{project}'; 'strata ps -a' lists them");
    }

    private static string Key(string project, string name) => project + "/" + name;

    // ---------------------------------------------------------------- create

    public async Task<InstanceRecord> CreateAsync(InstanceSpec requested, bool start, string project, CancellationToken cancellationToken)
    {
        var spec = SpecValidator.Normalize(requested);
        var projectRecord = _options.Projects is { } projects ? projects.Get(project) : null;
        var requestedTier = SpecValidator.ParseTier(spec.Tier, _options.AllowFakeTier);
        if (projectRecord is not null && requestedTier is { } named)
        {
            // A named tier is checked before the advisor, so a refusal is the project's 403, not a placement error.
            ProjectAdmission.CheckRestrictions(project, projectRecord.Restrictions, spec, named);
        }
        var placement = _options.TierChooser?.Invoke(spec, project);
        var tier = placement is not null && TierNames.TryParse(placement.Tier, out var placed) ? placed : requestedTier ?? ChooseTier(spec);
        if (projectRecord is not null)
        {
            ProjectAdmission.CheckRestrictions(project, projectRecord.Restrictions, spec, tier);
        }
        var driver = _drivers.Get(tier);
        if (tier is not (Tier.Container or Tier.Fake) && (spec.Ports is { Count: > 0 } || spec.Network is not (null or "none" or "host")))
        {
            // Containers, sandboxes and VMs join networks (docs/network.md); never ignore the request silently elsewhere.
            if (tier is not (Tier.Sandbox or Tier.Vm))
            {
                throw StrataException.Invalid(spec.Ports is { Count: > 0 } ? "ports" : "network",
                    $"the {tier.ToName()} tier does not join networks yet; networks and published ports work on the container, sandbox and vm tiers");
            }
        }
        var name = spec.Name ?? GenerateName(project);
        RunTimeline.Mark("spec validated");
        spec = spec with { Name = name, Tier = tier.ToName() };

        var id = Guid.NewGuid().ToString("N");
        var entry = new Entry(new InstanceRecord
        {
            Id = id,
            Project = project,
            Name = name,
            Tier = tier,
            State = InstanceState.Creating,
            Spec = spec,
            CreatedAt = _time.GetUtcNow(),
            Revision = 1,
            Placement = placement,
        })
        {
            // An auto-removed instance on a tier that cannot outlive the daemon (wasm runs inside it) has
            // nothing to reconcile after a restart, so it is never written to the store at all.
            Ephemeral = spec.AutoRemove && !driver.Capabilities.SurvivesDaemonRestart,
        };
        var directory = InstanceDirectory(id);
        await entry.Lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            Admit(entry, projectRecord);
            DriverHandle handle;
            try
            {
                // The name is reserved in memory (_names); the record is persisted once, with the driver's
                // handle, so a crash can never leave a stored instance whose resources nobody knows about.
                // A crash during the driver's create leaves only a directory, swept at the next start.
                // An ephemeral instance gets none: its driver keeps it in memory (and creates it if it needs one).
                if (!entry.Ephemeral)
                {
                    // Private (docs/security.md): it holds the environment, the output and a container's root file system.
                    Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                }
                handle = await driver.CreateAsync(new CreateRequest
                {
                    InstanceId = id,
                    Name = name,
                    Project = project,
                    Directory = directory,
                    Spec = spec,
                }, cancellationToken).ConfigureAwait(false);
                RunTimeline.Mark("driver create");
            }
            catch (Exception e)
            {
                // Nothing half-created: forget the instance entirely and surface the driver's error.
                LogCreateFailed(name, e.Message);
                Forget(entry, directory);
                throw;
            }

            entry.Record = entry.Record with { State = InstanceState.Created, Handle = handle, Revision = 2 };
            try
            {
                if (!entry.Ephemeral)
                {
                    await _store.InsertAsync(entry.Record, CancellationToken.None).ConfigureAwait(false);
                    RunTimeline.Mark("store insert");
                }
            }
            catch
            {
                await driver.DeleteAsync(handle, CancellationToken.None).ConfigureAwait(false);
                Forget(entry, directory);
                throw;
            }
            _events.Publish("created", View(entry.Record));
        }
        finally
        {
            entry.Lock.Release();
        }

        if (!start)
        {
            return entry.Record;
        }
        try
        {
            return await StartAsync(project, name, cancellationToken).ConfigureAwait(false);
        }
        catch (StrataException) when (spec.AutoRemove)
        {
            await DeleteAsync(project, name, force: true, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The tier for <c>tier: auto</c> when no tier chooser (the advisor) is configured.</summary>
    private static Tier ChooseTier(InstanceSpec spec)
    {
        if (spec.Image is null)
        {
            return Tier.Process;
        }
        if (spec.Image.EndsWith(".wasm", StringComparison.OrdinalIgnoreCase) || spec.Image.EndsWith(".wat", StringComparison.OrdinalIgnoreCase))
        {
            return Tier.Wasm; // a module file can only run on the wasm tier
        }
        return Tier.Container; // an OCI image with no stated needs: the article's default answer
    }

    private void Forget(Entry entry, string directory)
    {
        _entries.TryRemove(entry.Record.Id, out _);
        _names.TryRemove(Key(entry.Record.Project, entry.Record.Name), out _);
        TryDeleteDirectory(directory);
    }

    /// <summary>
    /// Admission: reserves the name and counts the instance against its project's quota in one step under
    /// <see cref="_admission"/>, so concurrent creates can never overshoot. From here the entry counts as usage
    /// (while the driver creates it, too) until <see cref="Forget"/> or its removal takes it out again.
    /// </summary>
    private void Admit(Entry entry, ProjectRecord? project)
    {
        var record = entry.Record;
        lock (_admission)
        {
            if (project is not null)
            {
                ProjectAdmission.CheckQuota(record.Project, project.Quota, Usage(record.Project), record.Spec);
            }
            if (!_names.TryAdd(Key(record.Project, record.Name), record.Id))
            {
                throw StrataException.Conflict($"an instance named '{record.Name}' exists already in project '{record.Project}'; choose another name or remove it first");
            }
            _entries[record.Id] = entry;
        }
    }

    /// <summary>What the project's instances count for against its quota: every instance that exists, in any state.</summary>
    public ProjectUsage Usage(string project)
    {
        var usage = new ProjectUsage();
        foreach (var entry in _entries.Values)
        {
            var r = entry.Record;
            if (r.Project == project && r.State != InstanceState.Deleted)
            {
                usage = ProjectAdmission.Add(usage, r.Spec);
            }
        }
        return usage;
    }

    private string GenerateName(string project)
    {
        for (var attempt = 0; ; attempt++)
        {
            var name = NameGenerator.Next(Random.Shared);
            if (!_names.ContainsKey(Key(project, name)) || attempt > 20)
            {
                return name;
            }
        }
    }

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

    // ---------------------------------------------------------------- plumbing

    /// <summary>Persists first, then publishes: an event is never announced for a change that could be lost.</summary>
    private async Task CommitAsync(Entry entry, InstanceRecord next, string? eventType, bool persist = true)
    {
        var previous = entry.Record;
        var write = persist && !entry.Ephemeral;
        // The revision counts stored versions: an unwritten change keeps it, so the next write is not stale.
        next = next with { Revision = write ? previous.Revision + 1 : previous.Revision };
        if (!InstanceStateMachine.CanTransition(previous.State, next.State) && previous.State != next.State)
        {
            throw new StrataException(ErrorKind.Internal, $"internal error: illegal transition {previous.State.ToName()} -> {next.State.ToName()} for '{previous.Name}'");
        }
        if (write)
        {
            await _store.UpdateAsync(next, CancellationToken.None).ConfigureAwait(false);
        }
        entry.Record = next;
        if (next.State == InstanceState.Running && previous.State != InstanceState.Running)
        {
            Interlocked.Increment(ref entry.Generation);
        }
        if (eventType is not null)
        {
            _events.Publish(eventType, View(next));
        }
    }

    private static InstanceRecordView View(InstanceRecord r) => new(r.Name, r.Project, r.Tier, r.State, r.ExitCode, r.Reason);

    private static void TryDeleteDirectory(string directory)
    {
        try
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }


    /// <summary>
    /// Stops watching (the workloads keep running; the next daemon reattaches). Used on SIGTERM.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        // DaemonHost disposes the service itself, then the DI container does again: only the first counts.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        await _shutdown.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(_background.Keys).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
        }
        _shutdown.Dispose();
    }

    /// <summary>Stops every running instance (the explicit <c>strata daemon stop --all</c>).</summary>
    public async Task StopAllAsync(TimeSpan grace, CancellationToken cancellationToken)
    {
        var running = List().Where(r => r.State.IsActive()).ToList();
        await Task.WhenAll(running.Select(r => StopAsync(r.Project, r.Name, grace, cancellationToken))).ConfigureAwait(false);
    }

    internal sealed class Entry
    {
        public Entry(InstanceRecord record)
        {
            Record = record;
        }

        public readonly SemaphoreSlim Lock = new(1, 1);
        public volatile InstanceRecord Record;
        public int Generation;
        public int Attached;
        public bool Ephemeral;
        public TaskCompletionSource<InstanceRecord> Exit = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void ResetExit()
        {
            if (Exit.Task.IsCompleted)
            {
                Exit = new TaskCompletionSource<InstanceRecord>(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "create of instance {Name} failed: {Reason}")]
    private partial void LogCreateFailed(string name, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "run {Name} removed in the background (ms from the request; step): {Timeline}")]
    private partial void LogRemovalTimeline(string name, string timeline);

    [LoggerMessage(Level = LogLevel.Information, Message = "reattached to instance {Name} (pid {Pid})")]
    private partial void LogReattached(string name, int pid);

    [LoggerMessage(Level = LogLevel.Warning, Message = "instance {Name}: {Operation} failed")]
    private partial void LogBackgroundFailure(string name, string operation, Exception exception);
}

/// <summary>Settings of the control plane, validated once by the daemon.</summary>
public sealed record ControlOptions
{
    public required string Root { get; init; }
    public bool AllowFakeTier { get; init; }
    /// <summary>
    /// Places a (normalised) spec: chooses the tier for <c>tier: auto</c> and checks a named tier against the
    /// spec's requirements (the tier advisor). Throws <see cref="StrataException"/> when no tier fits. The
    /// placement is stored with the instance. Null: no image → process, a .wasm module → wasm, else an error.
    /// The second argument is the project, whose rules (allowed tiers, minimum tier for untrusted code) it honours.
    /// </summary>
    public Func<InstanceSpec, string, Placement>? TierChooser { get; init; }

    /// <summary>
    /// Projects. When set, every create names an existing project, and that project's restrictions and quota are
    /// enforced at admission (403 with the reason). Null: any project name, no rules (unit tests).
    /// </summary>
    public ProjectService? Projects { get; init; }
}
