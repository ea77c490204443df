using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Logs;
using Strata.Node.Supervision;
using Strata.Qemu;
using Strata.Qemu.Guest;

namespace Strata.Node.Drivers.Vm;

public sealed partial class VmDriver
{
    public Task<DriverHandle> StartAsync(DriverHandle handle, CancellationToken cancellationToken) =>
        LaunchAsync(handle, loadvmTag: null, cancellationToken);

    private async Task<DriverHandle> LaunchAsync(DriverHandle handle, string? loadvmTag, CancellationToken cancellationToken)
    {
        _supervised.RequireSupervisor();
        var config = ReadConfig(handle);
        if (!File.Exists(config.BaseDisk))
        {
            throw new StrataException(ErrorKind.NotFound, $"the VM's base disk {config.BaseDisk} is gone; remove the instance and create it again");
        }
        if (config.Kind == VmKinds.Oci && !File.Exists(config.KernelPath))
        {
            var install = config.Machine == "virt" ? Arm64Guest.FetchHint : $"install it with 'apt-get install {GuestKernel.Package}'";
            throw new StrataException(ErrorKind.Unavailable, $"guest kernel {config.KernelPath} is gone; {install} and create the instance again");
        }
        DeleteRunFiles(handle.Directory);
        await _qmp.ForgetAsync(QmpSocket(handle)).ConfigureAwait(false);
        if (config.Disposable && loadvmTag is null)
        {
            // Every run starts from the image again: nothing of the previous run survives.
            await CreateOverlayAsync(config, cancellationToken).ConfigureAwait(false);
        }
        var network = await NetworkOfAsync(handle, config, cancellationToken).ConfigureAwait(false);
        // Templates (VmDriver.Templates.cs): a first or disposable start restores the image's booted template.
        var start = loadvmTag is null ? await PrepareTemplateStartAsync(handle, config, network, cancellationToken).ConfigureAwait(false) : null;
        CreateProgress.Report("boot", loadvmTag is not null ? "restoring the VM from its snapshot"
            : start?.Key is null ? "booting the VM" : "restoring the VM from the image's template");
        var argv = start?.Key is null
            ? BuildArgv(config, handle.Directory, loadvmTag, network)
            : BuildArgv(config, handle.Directory, loadvmTag: null, network, new VmBoot($"{KernelHead(config)} {TemplateArguments}", Incoming: true, KernelSetup: start.KernelSetup));
        var started = await _supervised.LaunchAsync(handle, SupervisorConfigFor(handle, argv), cancellationToken).ConfigureAwait(false);
        if (start?.Key is not null)
        {
            (started, start) = await ResumeOrBootColdAsync(handle, started, config, start, network, cancellationToken).ConfigureAwait(false);
        }
        if (loadvmTag is null)
        {
            File.WriteAllText(Path.Combine(handle.Directory, StartedOnceName), "");
        }
        LogStarted(handle.InstanceId, started.Pid ?? 0, loadvmTag ?? start?.Note ?? "a cold boot");
        return start is null ? started : started with { Data = new Dictionary<string, string>(started.Data) { [TemplateDataKey] = start.Note } };
    }

    /// <summary>Nothing of a previous run may be mistaken for this run's (exit, guest report, sockets).</summary>
    private static void DeleteRunFiles(string dir)
    {
        foreach (var stale in new[] { ExitFileName, ControlFileName, StopMarkerName, SerialFileName, QmpSocketName, ExecSocketName, ConsoleSocketName, SetupSocketName })
        {
            File.Delete(Path.Combine(dir, stale));
        }
    }

    /// <summary>How the supervisor runs this VM's QEMU: the argv, and the instance's directory, logs and exit file.</summary>
    private SupervisorConfig SupervisorConfigFor(DriverHandle handle, IReadOnlyList<string> argv) => new()
    {
        Argv = argv,
        Env = new Dictionary<string, string> { ["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" },
        WorkingDir = handle.Directory,
        LogDirectory = LogFiles.LogDirectory(handle.Directory),
        LogMaxBytes = _options.LogMaxBytes,
        ExitFile = Path.Combine(handle.Directory, ExitFileName),
    };

    public Task StopAsync(DriverHandle handle, TimeSpan grace, CancellationToken cancellationToken) =>
        IsRunning(handle) || !SupervisedRuntime.SupervisorAlive(handle) ? _supervised.StopAsync(handle, grace, cancellationToken) : Task.CompletedTask;

    public Task KillAsync(DriverHandle handle, int signal, CancellationToken cancellationToken) => _supervised.KillAsync(handle, signal, cancellationToken);

    public async Task<ExitStatus> WaitAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        var exit = await _supervised.WaitAsync(handle, cancellationToken).ConfigureAwait(false);
        await _qmp.ForgetAsync(QmpSocket(handle)).ConfigureAwait(false);
        return exit;
    }

    public async Task<WorkloadStatus> RecoverAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        var status = await _supervised.RecoverAsync(handle, cancellationToken).ConfigureAwait(false);
        if (status.Phase != WorkloadPhase.Running)
        {
            return status;
        }
        // Reattach: QMP answers again from this daemon (QEMU kept running; its one client, the old daemon, is gone).
        string? abandoned;
        try
        {
            await _qmp.ExecuteAsync(QmpSocket(handle), "query-status", null, TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
            // A live move the previous daemon drove and did not finish is undone: the guest stays here (docs/move.md).
            abandoned = await _qmp.UseAsync(QmpSocket(handle), TimeSpan.FromSeconds(5),
                qmp => Qemu.Migration.LiveMigration.AbandonAsync(qmp, cancellationToken), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is StrataException or Qemu.Qmp.QmpException)
        {
            return new WorkloadStatus(WorkloadPhase.Running, Reason: "QEMU runs but its QMP socket did not answer: " + e.Message);
        }
        if (abandoned is not null)
        {
            LogMoveAbandoned(handle.InstanceId, abandoned);
        }
        return status;
    }

    // ---- the supervised tier: QMP for a clean stop; QEMU by its recorded identity for signals and orphans

    /// <summary>ACPI power button (a full OS shuts down), up to <paramref name="grace"/>; then QMP quit; then (by the runtime) SIGKILL.</summary>
    async Task<bool> ISupervisedTier.StopGracefullyAsync(DriverHandle handle, TimeSpan grace, CancellationToken cancellationToken)
    {
        File.WriteAllText(Path.Combine(handle.Directory, StopMarkerName), "");
        var socket = QmpSocket(handle);
        try
        {
            await _qmp.ExecuteAsync(socket, "system_powerdown", null, TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
            if (await SupervisedRuntime.ExitedWithinAsync(handle, grace, cancellationToken).ConfigureAwait(false))
            {
                File.WriteAllText(Path.Combine(handle.Directory, StopMarkerName), PoweredOff);
                return true;
            }
            try
            {
                await _qmp.ExecuteAsync(socket, "quit", null, TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
            }
            catch (StrataException)
            {
                // QEMU may close the socket while answering quit.
            }
            return await SupervisedRuntime.ExitedWithinAsync(handle, TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
        }
        catch (StrataException) when (!cancellationToken.IsCancellationRequested)
        {
            return false; // QMP unusable (QEMU wedged): killed next
        }
    }

    Task ISupervisedTier.SignalAsync(DriverHandle handle, int signal, CancellationToken cancellationToken)
    {
        // Only the QEMU that was started: a PID that now belongs to another process is never signalled.
        SupervisedRuntime.SignalWorkloadGroup(handle, signal);
        return Task.CompletedTask;
    }

    ExitStatus ISupervisedTier.ReadExit(DriverHandle handle, ExitStatus recorded) => Outcome(handle, recorded);

    ExitStatus? ISupervisedTier.ReportedExit(DriverHandle handle) =>
        QemuVm.ReadGuestReport(Path.Combine(handle.Directory, ControlFileName)).ExitCode is int code
            ? new ExitStatus { ExitCode = code, FinishedAt = DateTimeOffset.UtcNow }
            : null;

    Task<bool> ISupervisedTier.StopOrphanAsync(DriverHandle handle, CancellationToken cancellationToken) =>
        SupervisedRuntime.EndWorkloadGroupAsync(handle, SupervisedRuntime.OrphanTermBudget);

    /// <summary>How the run ended: the guest's own exit code when its init reported one, else QEMU's outcome.</summary>
    private static ExitStatus Outcome(DriverHandle handle, ExitStatus qemu)
    {
        var report = QemuVm.ReadGuestReport(Path.Combine(handle.Directory, ControlFileName));
        if (report.ExitCode is int code)
        {
            return new ExitStatus { ExitCode = code, FinishedAt = qemu.FinishedAt };
        }
        if (qemu.ExitCode != 0 || qemu.Failed)
        {
            return qemu with { Reason = qemu.Reason ?? $"QEMU exited with {qemu.ExitCode}; its message is in the instance's stderr log" };
        }
        var stopped = File.Exists(Path.Combine(handle.Directory, StopMarkerName));
        if (stopped)
        {
            var how = File.ReadAllText(Path.Combine(handle.Directory, StopMarkerName)) == PoweredOff
                ? "stopped: the guest shut down on the ACPI power button"
                : "stopped: QEMU quit after the grace period";
            return new ExitStatus { ExitCode = StoppedExitCode, Reason = how, FinishedAt = qemu.FinishedAt };
        }
        if (report.Failure is { } failure)
        {
            return new ExitStatus { ExitCode = 127, Failed = true, Reason = "guest init failed: " + failure, FinishedAt = qemu.FinishedAt };
        }
        var kind = TryReadConfig(handle)?.Kind;
        return kind == VmKinds.Disk
            ? new ExitStatus { ExitCode = 0, Reason = "the guest powered off", FinishedAt = qemu.FinishedAt }
            : new ExitStatus { ExitCode = -1, Failed = true, Reason = $"the guest ended without reporting an exit code; see {Path.Combine(handle.Directory, SerialFileName)}", FinishedAt = qemu.FinishedAt };
    }

    public async Task DeleteAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        // QEMU first (by its identity, supervisor or not): a tap in use cannot go, nor may a guest outlive its removal.
        await _supervised.EndEverythingAsync(handle, cancellationToken).ConfigureAwait(false);
        if (_options.Networks is { } networks)
        {
            // Always asked, not only when the config names a network: a create that died between attaching and
            // writing its config must not leave a tap or lease behind.
            await networks.DetachAsync(handle.InstanceId, cancellationToken).ConfigureAwait(false);
        }
        await _qmp.ForgetAsync(QmpSocket(handle)).ConfigureAwait(false);
        foreach (var name in new[] { OverlayFileName, QmpSocketName, ExecSocketName, ConsoleSocketName, SetupSocketName, ControlFileName, SerialFileName, NamesDiskFileName, StartedOnceName })
        {
            File.Delete(Path.Combine(handle.Directory, name));
        }
        LogDeleted(handle.InstanceId);
    }
}
