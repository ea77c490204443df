using Strata.Contracts.Drivers;

namespace Strata.Node.Supervision;

/// <summary>
/// What a supervised tier (process, container, sandbox, vm) supplies to the <see cref="SupervisedRuntime"/> it runs
/// on: its stop method, how to signal its workload, how to read its exit, and its orphan cleanup. Everything else —
/// launching the supervisor, watching it, the stop/kill/wait/recover sequence, the process-identity checks and what
/// happens when a supervisor dies — is the runtime's. See docs/supervisor.md.
/// </summary>
public interface ISupervisedTier
{
    /// <summary>
    /// The tier's stop method: asks the workload to end (SIGTERM, the ACPI power button) and waits up to
    /// <paramref name="grace"/>. True once it has ended; false sends the runtime on to SIGKILL.
    /// </summary>
    Task<bool> StopGracefullyAsync(DriverHandle handle, TimeSpan grace, CancellationToken cancellationToken);

    /// <summary>Sends <paramref name="signal"/> to the workload (a container's init through its runtime; QEMU by its identity).</summary>
    Task SignalAsync(DriverHandle handle, int signal, CancellationToken cancellationToken);

    /// <summary>How the workload ended, from the supervisor's exit record and what the tier itself left (guest reports, markers).</summary>
    ExitStatus ReadExit(DriverHandle handle, ExitStatus recorded);

    /// <summary>
    /// What the workload reported about its end without the supervisor's help (a guest's exit code on its control
    /// port); null when the tier has nothing of the kind. Read when the supervisor died without an exit record.
    /// </summary>
    ExitStatus? ReportedExit(DriverHandle handle);

    /// <summary>
    /// Orphan cleanup: ends whatever of the workload still runs without its supervisor — the process group and cgroup,
    /// the container through its runtime, QEMU by its recorded identity. Idempotent. True when something still ran.
    /// </summary>
    Task<bool> StopOrphanAsync(DriverHandle handle, CancellationToken cancellationToken);
}
