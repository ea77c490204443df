using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Logs;

namespace Strata.Node.Supervision;

/// <summary>
/// The one supervised-workload runtime under the process, container, sandbox and vm tiers. It launches the
/// instance's strata-supervisor (from a standby one when kept), watches it through the process-wide
/// <see cref="ExitWatcher.Shared"/>, and owns the stop / kill / wait / recover sequence with the process-identity
/// check (PID + start time: a recycled PID is never signalled). The tier supplies its stop method, its signalling,
/// how to read its exit and its orphan cleanup (<see cref="ISupervisedTier"/>).
///
/// When a supervisor dies without recording an exit (SIGKILL, the OOM killer), the workload has lost its log pipes
/// and nobody can learn its exit code any more: the runtime ends whatever of it still runs (the tier's orphan
/// cleanup) and reports <c>failed: supervisor lost; workload stopped</c> — at once while the daemon runs, or from
/// <see cref="RecoverAsync"/> when the daemon was down. An exit code that did not happen is never reported
/// (<see cref="ExitStatus.ExitCodeUnknown"/>). See docs/supervisor.md, "When a supervisor dies".
/// </summary>
public sealed partial class SupervisedRuntime : IDisposable
{
    public const string ExitFileName = "exit.json";

    /// <summary>The reason recorded when a supervisor died while its workload ran and the workload was stopped.</summary>
    public const string LostAndStopped = "supervisor lost; workload stopped";

    /// <summary>The reason recorded when a supervisor died and its workload had ended too, with no exit record.</summary>
    public const string LostAfterEnd = "supervisor lost; the workload had ended too and its exit code was not recorded";

    private const string NotFound = "strata-supervisor was not found next to stratad or on PATH; reinstall Strata (scripts/setup.sh) or pass --supervisor to stratad";

    /// <summary>How long an orphaned workload gets between SIGTERM and SIGKILL (QEMU flushes its disks on SIGTERM).</summary>
    public static readonly TimeSpan OrphanTermBudget = TimeSpan.FromMilliseconds(800);

    private readonly ISupervisedTier _tier;
    private readonly SupervisorLauncher? _launcher;
    private readonly ILogger _logger;
    private readonly string _tierName;

    /// <param name="launcher">
    /// A launcher shared by the daemon's supervised tiers (one standby supervisor serves them all); it is disposed with
    /// the first of them (they end together). Null: one of its own, which keeps a standby when <paramref name="keepSpare"/>.
    /// </param>
    public SupervisedRuntime(ISupervisedTier tier, string tierName, string? supervisorPath, SupervisorLauncher? launcher = null, bool keepSpare = false, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(tier);
        _tier = tier;
        _tierName = tierName;
        _logger = logger ?? NullLogger.Instance;
        SupervisorPath = launcher?.SupervisorPath ?? supervisorPath ?? SupervisorLauncher.Locate();
        _launcher = launcher ?? (SupervisorPath is null ? null : new SupervisorLauncher(SupervisorPath) { KeepSpare = keepSpare });
    }

    /// <summary>The launcher a daemon shares between its supervised tiers: it keeps one standby supervisor for all of them. Null without a supervisor.</summary>
    public static SupervisorLauncher? SharedLauncher(string? supervisorPath) =>
        (supervisorPath ?? SupervisorLauncher.Locate()) is { } path ? new SupervisorLauncher(path) { KeepSpare = true } : null;

    /// <summary>The strata-supervisor executable, or null when none was found.</summary>
    public string? SupervisorPath { get; }

    /// <summary>The standby supervisor's PID (null when none is kept or it is not started yet).</summary>
    public int? SparePid => _launcher?.SparePid;

    /// <summary>The exit watcher every supervised tier shares (one thread for the whole daemon).</summary>
    public static ExitWatcher Watcher => ExitWatcher.Shared;

    /// <summary>Null when the supervisor is there; else the fingerprint that says it is missing and how to fix it.</summary>
    public DriverFingerprint? MissingSupervisor() =>
        SupervisorPath is null || !File.Exists(SupervisorPath) ? DriverFingerprint.Unavailable(NotFound) : null;

    /// <summary>Throws <see cref="ErrorKind.Unavailable"/> when there is no supervisor to run a workload with.</summary>
    public void RequireSupervisor()
    {
        if (_launcher is null)
        {
            throw new StrataException(ErrorKind.Unavailable, NotFound);
        }
    }

    /// <summary>Starts the standby supervisor now (at fingerprint time), so that even the first run finds one.</summary>
    public void PrepareSpare() => _launcher?.PrepareSpare();

    public static string ExitFilePath(DriverHandle handle) => Path.Combine(handle.Directory, ExitFileName);

    /// <summary>
    /// Starts the supervisor with <paramref name="config"/> (the exit file and log directory are the runtime's: any
    /// previous run's exit record is removed first) and returns the handle with the workload's and the supervisor's identities.
    /// </summary>
    public async Task<DriverHandle> LaunchAsync(DriverHandle handle, SupervisorConfig config, CancellationToken cancellationToken)
    {
        RequireSupervisor();
        var exitFile = ExitFilePath(handle);
        File.Delete(exitFile); // a restart must not see the previous run's exit
        var launched = await _launcher!.StartAsync(handle.Directory, config with
        {
            ExitFile = exitFile,
            LogDirectory = LogFiles.LogDirectory(handle.Directory),
        }, cancellationToken).ConfigureAwait(false);
        return handle with
        {
            Pid = launched.Pid,
            PidStartTicks = launched.PidStartTicks,
            SupervisorPid = launched.SupervisorPid,
            SupervisorStartTicks = launched.SupervisorStartTicks,
        };
    }

    /// <summary>The supervisor (pid, start ticks) is this very process and still runs.</summary>
    public static bool SupervisorAlive(DriverHandle handle) =>
        handle.SupervisorPid is { } sup && handle.SupervisorStartTicks is { } ticks && ProcessIdentity.IsAlive(sup, ticks);

    /// <summary>The workload's main process (for VMs: QEMU) is the one that was started and still runs.</summary>
    public static bool WorkloadAlive(DriverHandle handle) =>
        handle.Pid is { } pid && handle.PidStartTicks is { } ticks && ProcessIdentity.IsAlive(pid, ticks);

    /// <summary>
    /// Signals the workload's process group — only if its leader is still the process that was started (same PID and
    /// start time). A PID that now belongs to another process is never signalled. True when the signal was sent.
    /// </summary>
    public static bool SignalWorkloadGroup(DriverHandle handle, int signal) =>
        WorkloadAlive(handle) && Signals.SendToGroup(handle.Pid!.Value, signal);

    /// <summary>
    /// Stop: the tier's stop method within <paramref name="grace"/>, then SIGKILL through the tier. When the supervisor
    /// is gone the orphan cleanup runs instead: a stop acts on what the instance owns whether or not a supervisor lives.
    /// </summary>
    public async Task StopAsync(DriverHandle handle, TimeSpan grace, CancellationToken cancellationToken)
    {
        if (handle.SupervisorPid is null)
        {
            return; // never started
        }
        if (!SupervisorAlive(handle))
        {
            await _tier.StopOrphanAsync(handle, cancellationToken).ConfigureAwait(false);
            return;
        }
        if (grace > TimeSpan.Zero && await _tier.StopGracefullyAsync(handle, grace, cancellationToken).ConfigureAwait(false))
        {
            return;
        }
        await _tier.SignalAsync(handle, Signals.SIGKILL, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Kill: the tier's signal while the supervisor lives; without it SIGKILL means the orphan cleanup.</summary>
    public async Task KillAsync(DriverHandle handle, int signal, CancellationToken cancellationToken)
    {
        if (SupervisorAlive(handle))
        {
            await _tier.SignalAsync(handle, signal, cancellationToken).ConfigureAwait(false);
        }
        else if (signal == Signals.SIGKILL)
        {
            await _tier.StopOrphanAsync(handle, cancellationToken).ConfigureAwait(false);
        }
        else if (WorkloadAlive(handle))
        {
            await _tier.SignalAsync(handle, signal, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// A graceful stop by signal (the process and container tiers' stop method): SIGTERM through the tier, then
    /// waits up to <paramref name="grace"/> for the supervisor to record the exit.
    /// </summary>
    public async Task<bool> TerminateWithinAsync(DriverHandle handle, TimeSpan grace, CancellationToken cancellationToken)
    {
        await _tier.SignalAsync(handle, Signals.SIGTERM, cancellationToken).ConfigureAwait(false);
        return await ExitedWithinAsync(handle, grace, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>True once the supervisor has ended (it ends after recording the workload's exit), false after <paramref name="time"/>.</summary>
    public static async Task<bool> ExitedWithinAsync(DriverHandle handle, TimeSpan time, CancellationToken cancellationToken)
    {
        if (handle.SupervisorPid is not { } sup || handle.SupervisorStartTicks is not { } ticks)
        {
            return true;
        }
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(time);
        try
        {
            await Watcher.WaitForExitAsync(sup, ticks, deadline.Token).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>Completes when the supervisor has ended (also one that is not our child); at once when it already has.</summary>
    public static Task WaitForSupervisorAsync(DriverHandle handle, CancellationToken cancellationToken) =>
        handle.SupervisorPid is { } sup && handle.SupervisorStartTicks is { } ticks
            ? Watcher.WaitForExitAsync(sup, ticks, cancellationToken)
            : throw new StrataException(ErrorKind.Internal, "the instance was never started");

    /// <summary>
    /// Completes when the supervisor has ended — at once when it is killed — with how the workload ended: the tier's
    /// reading of the exit record, or, without one, what <see cref="SupervisorLostAsync"/> found out and did.
    /// </summary>
    public async Task<ExitStatus> WaitAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        await WaitForSupervisorAsync(handle, cancellationToken).ConfigureAwait(false);
        if (ExitFile.TryRead(ExitFilePath(handle)) is { } recorded)
        {
            return _tier.ReadExit(handle, recorded);
        }
        return await SupervisorLostAsync(handle).ConfigureAwait(false);
    }

    /// <summary>
    /// After a daemon restart: the recorded exit when there is one, running while the supervisor lives, and otherwise
    /// the supervisor died while the daemon was down — handled as <see cref="WaitAsync"/> would have (phase Lost).
    /// </summary>
    public async Task<WorkloadStatus> RecoverAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        if (ExitFile.TryRead(ExitFilePath(handle)) is { } recorded)
        {
            return new WorkloadStatus(WorkloadPhase.Exited, _tier.ReadExit(handle, recorded));
        }
        if (SupervisorAlive(handle))
        {
            return new WorkloadStatus(WorkloadPhase.Running);
        }
        // The supervisor may have written its record between the two reads and then ended.
        if (ExitFile.TryRead(ExitFilePath(handle)) is { } late)
        {
            return new WorkloadStatus(WorkloadPhase.Exited, _tier.ReadExit(handle, late));
        }
        var lost = await SupervisorLostAsync(handle).ConfigureAwait(false);
        return new WorkloadStatus(lost.ExitCodeUnknown ? WorkloadPhase.Lost : WorkloadPhase.Exited, lost, lost.Reason);
    }

    /// <summary>
    /// The supervisor ended without an exit record. What the workload reported itself (a guest's exit code) is kept;
    /// whatever of it still runs is stopped (it has no log pipes and nobody could learn its exit); and the result
    /// says which it was, with no invented exit code.
    /// </summary>
    public async Task<ExitStatus> SupervisorLostAsync(DriverHandle handle)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var reported = _tier.ReportedExit(handle);
        var stopped = await _tier.StopOrphanAsync(handle, CancellationToken.None).ConfigureAwait(false);
        LogSupervisorLost(_tierName, handle.InstanceId, handle.SupervisorPid ?? 0, stopped, (long)clock.Elapsed.TotalMilliseconds);
        if (reported is not null)
        {
            return reported with { Reason = reported.Reason is { } r ? $"{r} (then the supervisor was lost)" : "the supervisor was lost after the workload reported its exit" };
        }
        return new ExitStatus
        {
            ExitCode = -1,
            ExitCodeUnknown = true,
            Failed = true,
            Reason = stopped ? LostAndStopped : LostAfterEnd,
            FinishedAt = DateTimeOffset.UtcNow,
        };
    }

    /// <summary>
    /// For a delete: ends everything of the workload whether or not its supervisor lives (SIGKILL while it does, then
    /// the orphan cleanup), so a removal never leaves a process, a container or a QEMU behind.
    /// </summary>
    public async Task EndEverythingAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        if (handle.SupervisorPid is null && handle.Pid is null)
        {
            return;
        }
        if (SupervisorAlive(handle))
        {
            await _tier.SignalAsync(handle, Signals.SIGKILL, cancellationToken).ConfigureAwait(false);
            await ExitedWithinAsync(handle, TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
        }
        await _tier.StopOrphanAsync(handle, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The orphan cleanup of a workload that is one process group (process tier, QEMU): SIGTERM to the group if its
    /// leader is still the process that was started, up to <paramref name="termBudget"/> for it to end, then SIGKILL.
    /// True when it still ran.
    /// </summary>
    public static async Task<bool> EndWorkloadGroupAsync(DriverHandle handle, TimeSpan termBudget)
    {
        if (!WorkloadAlive(handle))
        {
            return false;
        }
        var (pid, ticks) = (handle.Pid!.Value, handle.PidStartTicks!.Value);
        if (termBudget > TimeSpan.Zero && Signals.SendToGroup(pid, Signals.SIGTERM))
        {
            using var deadline = new CancellationTokenSource(termBudget);
            try
            {
                await Watcher.WaitForExitAsync(pid, ticks, deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // did not end in time
            }
        }
        // The rest of the group (and a leader that ignored SIGTERM); the leader's identity was checked above.
        if (Signals.SendToGroup(pid, Signals.SIGKILL))
        {
            // Reported only once it is true: SIGKILL takes effect asynchronously.
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            try
            {
                await Watcher.WaitForExitAsync(pid, ticks, deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // uninterruptible sleep (D state): it ends when the kernel lets it
            }
            for (var i = 0; i < 100 && GroupHasLiveMembers(pid); i++)
            {
                await Task.Delay(10).ConfigureAwait(false);
            }
        }
        return true;
    }

    /// <summary>True while a process of group <paramref name="pgid"/> has not ended (zombies have).</summary>
    private static bool GroupHasLiveMembers(int pgid)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out _))
            {
                continue;
            }
            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ', 4);
                if (fields[0] is not ("Z" or "X") && fields[2] == pgid.ToString(System.Globalization.CultureInfo.InvariantCulture))
                {
                    return true;
                }
            }
            catch (IOException)
            {
                // ended meanwhile
            }
        }
        return false;
    }

    public void Dispose() => _launcher?.Dispose();

    [LoggerMessage(EventId = 3101, Level = LogLevel.Warning,
        Message = "{Tier} instance {Instance}: its supervisor (pid {Pid}) ended without recording the workload's exit; workload still running and stopped: {Stopped} (in {StopMs} ms)")]
    private partial void LogSupervisorLost(string tier, string instance, int pid, bool stopped, long stopMs);
}
