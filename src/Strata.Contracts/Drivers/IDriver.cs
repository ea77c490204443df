namespace Strata.Contracts.Drivers;

/// <summary>
/// The contract every tier implements (Nomad's task-driver shape: small core, optional capabilities
/// as separate interfaces). The control plane owns the instance state machine; a driver only owns
/// the engine-side resources of one instance and never touches the store.
///
///   CreateAsync ──► handle ──► StartAsync ──► (running) ──► WaitAsync completes with ExitStatus
///        │                         │                 └──► StopAsync / KillAsync
///        └── on failure: nothing   └── RecoverAsync after a daemon restart: reattach, never start twice
///            left behind            DeleteAsync: remove every engine-side resource (idempotent)
///
/// Logs are not part of the contract: every driver writes the instance's log files in CRI format
/// under <see cref="DriverHandle.Directory"/>/logs (see LogFiles), and the daemon reads them.
/// </summary>
public interface IDriver
{
    Tier Tier { get; }

    DriverCapabilities Capabilities { get; }

    /// <summary>Is this tier usable on this host? If not, say why and what would fix it.</summary>
    Task<DriverFingerprint> FingerprintAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Validates the spec for this tier and prepares everything needed to start (bundle, rootfs, disk).
    /// Throws <see cref="StrataException"/> with <see cref="ErrorKind.InvalidArgument"/> for bad input.
    /// On any failure it must leave nothing behind.
    /// </summary>
    Task<DriverHandle> CreateAsync(CreateRequest request, CancellationToken cancellationToken);

    /// <summary>Starts the workload; returns the handle updated with process identities.</summary>
    Task<DriverHandle> StartAsync(DriverHandle handle, CancellationToken cancellationToken);

    /// <summary>Asks the workload to stop (SIGTERM or ACPI), waits up to <paramref name="grace"/>, then kills it.</summary>
    Task StopAsync(DriverHandle handle, TimeSpan grace, CancellationToken cancellationToken);

    /// <summary>Sends a signal to the workload (9 = SIGKILL).</summary>
    Task KillAsync(DriverHandle handle, int signal, CancellationToken cancellationToken);

    /// <summary>Completes when the workload has ended, with how it ended.</summary>
    Task<ExitStatus> WaitAsync(DriverHandle handle, CancellationToken cancellationToken);

    /// <summary>After a daemon restart: is the workload still there? Reattach to it; never start it again.</summary>
    Task<WorkloadStatus> RecoverAsync(DriverHandle handle, CancellationToken cancellationToken);

    /// <summary>Removes every engine-side resource. Idempotent. The workload is not running.</summary>
    Task DeleteAsync(DriverHandle handle, CancellationToken cancellationToken);
}

/// <summary>What the control plane hands a driver to create an instance.</summary>
public sealed record CreateRequest
{
    public required string InstanceId { get; init; }
    public required string Name { get; init; }
    public required string Project { get; init; }
    /// <summary>
    /// The instance's own directory (exists, empty). Logs go to <c>logs/</c> below it. Not created for an
    /// auto-removed instance on a tier that does not survive a daemon restart: such a driver may keep it in memory.
    /// </summary>
    public required string Directory { get; init; }
    /// <summary>The validated, normalised spec.</summary>
    public required InstanceSpec Spec { get; init; }
}

/// <summary>
/// What a driver needs to find its instance again, also after a daemon restart.
/// Serialised to the state store as JSON; <see cref="Version"/> changes when the shape does.
/// </summary>
public sealed record DriverHandle
{
    public const int CurrentVersion = 1;

    public int Version { get; init; } = CurrentVersion;
    public required string InstanceId { get; init; }
    public required string Directory { get; init; }
    /// <summary>The workload's main process on the host (for VMs: QEMU).</summary>
    public int? Pid { get; init; }
    /// <summary>Start time of <see cref="Pid"/> in clock ticks since boot (/proc/PID/stat field 22), to detect PID reuse.</summary>
    public long? PidStartTicks { get; init; }
    public int? SupervisorPid { get; init; }
    public long? SupervisorStartTicks { get; init; }
    /// <summary>Driver-specific values (runtime name, QMP socket, ...).</summary>
    public IReadOnlyDictionary<string, string> Data { get; init; } = new Dictionary<string, string>();
}

/// <summary>How a workload ended.</summary>
public sealed record ExitStatus
{
    public required int ExitCode { get; init; }
    /// <summary>e.g. <c>signal: SIGKILL</c>, <c>oom-killed</c>, <c>trap: out of bounds memory access</c>.</summary>
    public string? Reason { get; init; }
    public DateTimeOffset FinishedAt { get; init; }
    public bool OomKilled { get; init; }
    /// <summary>True when the driver could not run the workload at all (it never started properly).</summary>
    public bool Failed { get; init; }
    /// <summary>
    /// Nobody saw how the workload ended (its supervisor was lost): <see cref="ExitCode"/> means nothing and is not
    /// recorded. <see cref="Reason"/> says what is known.
    /// </summary>
    public bool ExitCodeUnknown { get; init; }
}

public enum WorkloadPhase
{
    Running = 1,
    Exited = 2,
    /// <summary>
    /// Neither running nor with a recorded exit: the supervisor vanished. <see cref="WorkloadStatus.Exit"/>, when set,
    /// says what the driver found out and did (e.g. "supervisor lost; workload stopped", with no exit code).
    /// </summary>
    Lost = 3,
}

public sealed record WorkloadStatus(WorkloadPhase Phase, ExitStatus? Exit = null, string? Reason = null);

public sealed record DriverFingerprint(bool Available, string Reason, string? Engine = null)
{
    public static DriverFingerprint Unavailable(string reason) => new(false, reason);
}

public enum IsolationLevel
{
    None = 0,
    Language = 1,
    Kernel = 2,
    Hardware = 3,
}

public enum SnapshotKind
{
    None = 0,
    Filesystem = 1,
    Memory = 2,
    Stateful = 3,
}

public sealed record DriverCapabilities
{
    public IsolationLevel Isolation { get; init; }
    public SnapshotKind Snapshots { get; init; }
    public bool NeedsImage { get; init; }
    public bool Exec { get; init; }
    public bool LiveResize { get; init; }
    /// <summary>
    /// Joins Strata networks and publishes ports (<c>spec.network</c>, <c>spec.ports</c>); a create that asks for
    /// them on a tier without it is refused, never silently ignored.
    /// </summary>
    public bool Networks { get; init; }
    /// <summary>
    /// Its boundary is one untrusted code may run behind: a project may name this tier as its
    /// <c>minimumTierForUntrusted</c> (wasm's language sandbox, the sandbox's and the vm's hardware boundary).
    /// </summary>
    public bool HoldsUntrustedCode { get; init; }
    /// <summary>Workloads keep running when the daemon stops, and are reattached when it starts again.</summary>
    public bool SurvivesDaemonRestart { get; init; } = true;

    /// <summary>Documented start-latency class, e.g. <c>~1ms</c>, <c>~50ms</c>, <c>~4s (TCG)</c>.</summary>
    public string StartLatencyClass { get; init; } = "";
}
