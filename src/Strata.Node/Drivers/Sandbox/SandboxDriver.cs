using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Contracts.Host;
using Strata.Node.Guest;
using Strata.Node.Images;
using Strata.Node.Logs;
using Strata.Node.Networking;
using Strata.Node.Supervision;
using Strata.Qemu;
using Strata.Qemu.Guest;
using Strata.Qemu.Qmp;
using Strata.Qemu.Templates;

namespace Strata.Node.Drivers.Sandbox;

/// <summary>
/// The <c>sandbox</c> tier (a Kata-style secure container): an OCI image run inside a QEMU <c>microvm</c>
/// with its own kernel. The image's layers become a cached read-only ext4 disk with a per-instance qcow2
/// overlay; the guest's init (docs/qemu.md) chroots into it and runs the workload. QEMU runs under a
/// strata-supervisor, so the sandbox outlives the daemon; the guest's stdout and stderr ports write
/// straight into the supervisor's pipes, which it copies into the CRI log. See docs/sandbox.md.
/// </summary>
public sealed partial class SandboxDriver : IDriver, ISupervisedTier, IExecDriver, IInteractiveExecDriver, IStatsDriver, IResizeDriver, IDisposable
{
    internal const string ExitFileName = SupervisedRuntime.ExitFileName;
    internal const string ControlFileName = "control";
    internal const string OverlayFileName = "rootfs.qcow2";
    internal const string ExecSocketName = "exec.sock";
    internal const string QemuLogName = "qemu.log";
    internal const string QmpSocketName = "qmp.sock";
    internal const string SetupSocketName = GuestTemplate.SetupSocketName;
    /// <summary>Written before the driver stops or signals QEMU: the signal number, so the exit is 128 + it.</summary>
    internal const string StopSignalFileName = "stop-signal";
    private const string StartedAtKey = "startedAt";

    private readonly SandboxDriverOptions _options;
    private readonly IImageResolver _images;
    private readonly ILogger _logger;
    private readonly SupervisedRuntime _supervised;
    private readonly GuestPipeline _guest;
    private readonly bool _ownsGuest;
    private int _assetsLogged;

    public SandboxDriver(SandboxDriverOptions options, IImageResolver images, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _images = images;
        _logger = logger ?? NullLogger.Instance;
        _supervised = new SupervisedRuntime(this, "sandbox", options.Supervisor, options.Launcher, options.KeepSpareSupervisor, logger: _logger);
        _ownsGuest = options.Guest is null;
        _guest = options.Guest ?? new GuestPipeline(options.CacheDirectory, options.QemuBinary, options.Kernel is { } kernel ? () => kernel : null, options.Busybox);
        Templates = CreateTemplateStore(options, _logger);
    }

    public Tier Tier => Tier.Sandbox;

    public DriverCapabilities Capabilities { get; } = new()
    {
        Isolation = IsolationLevel.Hardware,
        Snapshots = SnapshotKind.None,
        Networks = true,
        HoldsUntrustedCode = true,
        NeedsImage = true,
        Exec = true,
        LiveResize = true,
        StartLatencyClass = "~3s (TCG)",
    };

    /// <summary>The kernel, initramfs and accelerator every sandbox of this daemon boots with.</summary>
    private sealed record BootAssets(GuestKernelInfo Kernel, string Initrd, AcceleratorChoice Accel);

    public async Task<DriverFingerprint> FingerprintAsync(CancellationToken cancellationToken)
    {
        if (_supervised.MissingSupervisor() is { } missing)
        {
            return missing;
        }
        _supervised.PrepareSpare();
        try
        {
            var assets = await EnsureAssetsAsync(cancellationToken).ConfigureAwait(false);
            var accel = assets.Accel.Accel == Accelerators.Kvm ? "KVM" : "TCG";
            var why = assets.Accel.Reason.Replace("; using TCG", "", StringComparison.Ordinal);
            return new DriverFingerprint(true, $"qemu microvm, {accel} ({why}); kernel {assets.Kernel.Release}", $"{_options.QemuBinary} -M microvm");
        }
        catch (StrataException e)
        {
            return DriverFingerprint.Unavailable(e.Message);
        }
    }

    /// <summary>The guest pipeline's kernel, initramfs and accelerator (prepared once, shared with the vm tier).</summary>
    private async Task<BootAssets> EnsureAssetsAsync(CancellationToken ct)
    {
        var files = await _guest.Assets.EnsureAsync(ct).ConfigureAwait(false);
        var accel = await _guest.Assets.AcceleratorAsync(_options.Accelerator, "STRATA_SANDBOX_ACCEL", ct).ConfigureAwait(false);
        if (Interlocked.Exchange(ref _assetsLogged, 1) == 0)
        {
            LogAssets(files.Kernel.Release, accel.Accel, accel.Reason);
        }
        return new BootAssets(files.Kernel, files.Initrd, accel);
    }

    public async Task<DriverHandle> CreateAsync(CreateRequest request, CancellationToken cancellationToken)
    {
        var spec = request.Spec;
        if (string.IsNullOrEmpty(spec.Image))
        {
            throw StrataException.Invalid("image", "the sandbox tier runs an OCI image; give one, e.g. strata run --tier sandbox busybox -- true");
        }
        if (spec.Mounts is { Count: > 0 } && _options.VirtioFsDaemon is null)
        {
            throw new StrataException(ErrorKind.Unavailable,
                $"the sandbox tier shares host directories and files through virtiofsd, which is not installed; install it with 'apt-get install {VirtioFsDaemon.Package}', or drop -v");
        }
        var networkName = NetworkRegistry.TapNetworkName(spec, _options.Networks);
        if (spec.Resources?.Pids is not null)
        {
            throw StrataException.Invalid("resources.pids", "the sandbox tier has no process limit (the guest kernel owns its processes); drop --pids or use --tier container");
        }
        GuestTierOptions.RefuseHostKernelOptions(spec, "sandbox");
        CreateProgress.Report("image", $"resolving image {spec.Image}");
        var image = await _images.ResolveAsync(spec.Image, cancellationToken).ConfigureAwait(false);
        var digest = image.Digest;
        // Decide (and validate) the workload before the expensive disk work.
        _ = SandboxWorkload.Decide(spec, request.Name, image.Config, "", digest, image.LayerDirectories);
        var baseDisk = await _guest.RootDisks.EnsureBaseAsync(image.LayerDirectories, digest, cancellationToken).ConfigureAwait(false);
        var workload = SandboxWorkload.Decide(spec, request.Name, image.Config, baseDisk, digest, image.LayerDirectories) with
        {
            CpuModel = await CpuModelAsync(cancellationToken).ConfigureAwait(false),
        };
        var overlay = Path.Combine(request.Directory, OverlayFileName);
        CreateProgress.Report("overlay", "creating the sandbox's writable disk");
        var data = new Dictionary<string, string> { ["image"] = digest };
        await using var revert = new Revert();
        revert.Add(() => File.Delete(overlay));
        await _guest.RootDisks.CreateOverlayAsync(baseDisk, "raw", overlay, cancellationToken).ConfigureAwait(false);
        revert.Add(() => File.Delete(Path.Combine(request.Directory, SandboxWorkload.FileName)));
        workload.Save(request.Directory);
        if (networkName is not null)
        {
            revert.Add(() => File.Delete(Path.Combine(request.Directory, NamesDiskFileName)));
            CreateProgress.Report("network", $"joining network {networkName}");
            var network = await NetworkRegistry.AttachTapAsync(_options.Networks, spec, request, networkName,
                Path.Combine(request.Directory, NamesDiskFileName), cancellationToken).ConfigureAwait(false);
            revert.AddAsync(() => _options.Networks!.DetachAsync(request.InstanceId, CancellationToken.None));
            data[NetworkKey] = network.Network;
            data[AddressKey] = network.Address;
        }
        revert.Success();
        return new DriverHandle
        {
            InstanceId = request.InstanceId,
            Directory = request.Directory,
            Data = data,
        };
    }

    /// <summary>
    /// The <c>-cpu</c> model of a new sandbox: in a cluster under KVM, the cluster's guest CPU baseline (the same
    /// decision as the vm tier's), so it moves live between unlike hosts; else none (<c>host</c>, or TCG's default).
    /// </summary>
    private async Task<string?> CpuModelAsync(CancellationToken cancellationToken)
    {
        var assets = await EnsureAssetsAsync(cancellationToken).ConfigureAwait(false);
        return await _guest.CpuModelAsync(assets.Accel.Accel, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Handle keys of a sandbox on a network (the same keys the container tier uses).</summary>
    internal const string NetworkKey = "network";
    internal const string AddressKey = "address";
    /// <summary>The network's hosts list for the guest (docs/network.md), kept up to date by the network registry.</summary>
    internal const string NamesDiskFileName = "names.img";

    public async Task<DriverHandle> StartAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        _supervised.RequireSupervisor();
        var assets = await EnsureAssetsAsync(cancellationToken).ConfigureAwait(false);
        var workload = SandboxWorkload.Load(handle.Directory);
        var dir = handle.Directory;
        Mark("sandbox assets ready");
        // Nothing of a previous run may be mistaken for this run's outcome.
        foreach (var stale in new[] { ExitFileName, ControlFileName, StopSignalFileName, ExecSocketName, QmpSocketName, SetupSocketName, QemuLogName, "serial.log" })
        {
            File.Delete(Path.Combine(dir, stale));
        }
        TapAttachment? network = null;
        if (handle.Data.ContainsKey(NetworkKey))
        {
            // After a host reboot the tap is gone: it is made again (same network, ports and names) before the boot.
            network = (_options.Networks is { } networks ? await networks.EnsureTapAttachedAsync(handle.InstanceId, cancellationToken).ConfigureAwait(false) : null)
                ?? throw new StrataException(ErrorKind.Conflict, $"the sandbox's network membership is gone (network '{handle.Data[NetworkKey]}'); remove and create the sandbox again");
        }
        var exports = workload.Mounts.Select((m, i) => new VirtioFsExport(m.Source, Path.Combine(dir, "mnt", "m" + i.ToString(CultureInfo.InvariantCulture)),
            Path.Combine(dir, $"fs{i.ToString(CultureInfo.InvariantCulture)}.sock"), m.ReadOnly, m.File)).ToList();
        if (exports.Count > 0 && _options.VirtioFsDaemon is null)
        {
            throw new StrataException(ErrorKind.Unavailable, $"virtiofsd is not installed; install it with 'apt-get install {VirtioFsDaemon.Package}'");
        }
        var options = GuestOptions(assets, workload, dir, network, exports);
        // Templates (SandboxDriver.Templates.cs): a start from the image's booted template, when there is one for this shape.
        var fromTemplate = await PrepareTemplateStartAsync(handle, assets, workload, options, cancellationToken).ConfigureAwait(false);
        Mark(fromTemplate.Options is null ? "sandbox cold boot chosen" : "sandbox template found");
        CreateProgress.Report("boot", fromTemplate.Options is null ? "booting the guest" : "restoring the guest from the image's template");
        var plan = QemuVm.Plan(fromTemplate.Options ?? options);
        var wrapper = exports.Count == 0 ? WrapperScript : WrapperPrologue + VirtioFsDaemon.StartScript(_options.VirtioFsDaemon!, exports) + WrapperExec;
        var startedAt = DateTimeOffset.UtcNow;
        var config = SupervisorConfigFor(dir, wrapper, plan.Argv);
        var started = await _supervised.LaunchAsync(handle, config, cancellationToken).ConfigureAwait(false);
        Mark("sandbox qemu launched");
        if (fromTemplate.Options is not null)
        {
            (started, fromTemplate) = await ResumeOrBootColdAsync(handle, started, config, fromTemplate, plan, options, cancellationToken).ConfigureAwait(false);
        }
        LogStarted(handle.InstanceId, started.Pid ?? 0, assets.Accel.Accel, (DateTimeOffset.UtcNow - startedAt).TotalMilliseconds);
        var data = new Dictionary<string, string>(handle.Data)
        {
            [StartedAtKey] = startedAt.ToString("O", CultureInfo.InvariantCulture),
            [TemplateDataKey] = fromTemplate.Describe(),
        };
        GuestCpuDetails.Add(data, assets.Accel.Accel, workload.CpuModel);
        if (fromTemplate.Options is not null)
        {
            data[TemplateRamKey] = "1"; // its RAM maps the template's file: no balloon (SandboxDriver.Stats.cs)
        }
        else
        {
            data.Remove(TemplateRamKey);
        }
        return started with { Data = data };
    }

    /// <summary>QEMU under its supervisor: <paramref name="wrapper"/> (<see cref="WrapperScript"/>) runs <paramref name="argv"/>.</summary>
    private SupervisorConfig SupervisorConfigFor(string dir, string wrapper, IReadOnlyList<string> argv) => new()
    {
        Argv = ["/bin/sh", "-c", wrapper, Path.Combine(dir, QemuLogName), .. argv],
        Env = new Dictionary<string, string> { ["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" },
        WorkingDir = dir,
        LogDirectory = LogFiles.LogDirectory(dir),
        LogMaxBytes = _options.LogMaxBytes,
        ExitFile = Path.Combine(dir, ExitFileName),
    };

    /// <summary>The guest of this sandbox (its devices, disk, output ports, network and mounts) for <see cref="QemuVm.Plan"/>.</summary>
    private GuestVmOptions GuestOptions(BootAssets assets, SandboxWorkload workload, string dir, TapAttachment? network, List<VirtioFsExport> exports) =>
        new GuestVmOptions
        {
            Directory = dir,
            KernelPath = assets.Kernel.KernelPath,
            InitrdPath = assets.Initrd,
            Workload = workload.ToGuest(),
            Machine = QemuMachine.Microvm,
            Accel = assets.Accel.Accel,
            CpuModel = workload.CpuModel,
            Cpus = workload.Cpus,
            MemoryMiB = workload.MemoryMiB,
            RootDisk = new QemuDrive(Path.Combine(dir, OverlayFileName), "qcow2"),
            QemuBinary = _options.QemuBinary,
            // QEMU opens these in its own process: fd 1 and fd 4 are the supervisor's stdout and stderr pipes
            // (see WrapperScript), so the guest's output reaches the CRI log live and bounded by its rotation.
            StdoutPath = "/proc/self/fd/1",
            StderrPath = "/proc/self/fd/4",
            ExecSocket = Path.Combine(dir, ExecSocketName),
            Mounts = workload.Mounts.Select((m, i) => new GuestMount("m" + i.ToString(CultureInfo.InvariantCulture), exports[i].SocketPath, m.Target, m.ReadOnly, m.File)).ToList(),
            Network = network is null ? null : new GuestNetwork(network.Tap, network.Mac, network.Address, network.Prefix, network.Gateway, NamesDisk(dir)),
            Hostname = workload.Env.TryGetValue("STRATA_INSTANCE", out var name) && IsHostname(name) ? name : null,
        }.WithFreePageReporting(BalloonFits(network, exports.Count));

    /// <summary>
    /// QEMU 7.2's microvm has 24 virtio-mmio slots: the root disk and the serial ports take two, a NIC and the names disk
    /// one each, every virtio-fs share one. The balloon takes the next slot when there is one (not with 20 mounts).
    /// </summary>
    private static bool BalloonFits(TapAttachment? network, int mounts) => 2 + (network is null ? 0 : 2) + mounts < 24;

    private static bool IsHostname(string name) => name.Length is > 0 and <= 63 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_');

    /// <summary>The names disk, when the create made one (a sandbox created before names disks existed has none).</summary>
    private static string? NamesDisk(string dir) => File.Exists(Path.Combine(dir, NamesDiskFileName)) ? Path.Combine(dir, NamesDiskFileName) : null;

    /// <summary>
    /// Run by <c>/bin/sh -c</c> under the supervisor with $0 = the QEMU log path and "$@" = QEMU's argv. Keeps
    /// the supervisor's stderr pipe as fd 4 for the guest's stderr port and sends QEMU's own messages
    /// (warnings, "terminating on signal") to <c>qemu.log</c> instead of the workload's stderr; then execs
    /// QEMU, so the supervised pid is QEMU's. With mounts, the virtiofsd start lines go between the two parts
    /// (their messages land in <c>qemu.log</c> too).
    /// </summary>
    internal const string WrapperScript = WrapperPrologue + WrapperExec;

    private const string WrapperPrologue = "exec 4>&2 2>>\"$0\"\n";
    private const string WrapperExec = "exec \"$@\"";

    public Task StopAsync(DriverHandle handle, TimeSpan grace, CancellationToken cancellationToken) => _supervised.StopAsync(handle, grace, cancellationToken);

    /// <summary>
    /// The sandbox's stop method. The ACPI power button: the guest's init sends SIGTERM to the workload, which may
    /// clean up and exit within the grace period; the guest then reports its exit code and powers off. Then QEMU gets
    /// SIGTERM (its block layer flushes the overlay); SIGKILL (by the runtime) only if that does not work either.
    /// </summary>
    async Task<bool> ISupervisedTier.StopGracefullyAsync(DriverHandle handle, TimeSpan grace, CancellationToken cancellationToken)
    {
        MarkStop(handle, Signals.SIGTERM);
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            timeout.CancelAfter(grace);
            try
            {
                if (await PressPowerButtonAsync(handle, timeout.Token).ConfigureAwait(false))
                {
                    return true;
                }
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // grace period over
            }
        }
        return SupervisedRuntime.SignalWorkloadGroup(handle, Signals.SIGTERM)
            && await SupervisedRuntime.ExitedWithinAsync(handle, QuitBudget, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>How long QEMU gets to exit after SIGTERM before SIGKILL.</summary>
    private static readonly TimeSpan QuitBudget = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Presses the power button (QMP <c>system_powerdown</c>) until the sandbox has exited: again every second,
    /// because a press before the guest's watcher is listening (early in boot) is lost. True once it exited;
    /// false when QMP cannot be reached (QEMU wedged or already exiting). Cancelled when the grace period ends.
    /// </summary>
    private async Task<bool> PressPowerButtonAsync(DriverHandle handle, CancellationToken ct)
    {
        QmpClient qmp;
        try
        {
            qmp = await QmpClient.ConnectAsync(Path.Combine(handle.Directory, QmpSocketName), TimeSpan.FromSeconds(2), ct).ConfigureAwait(false);
        }
        catch (StrataException e)
        {
            LogPowerButtonFailed(handle.InstanceId, e.Message);
            return false;
        }
        await using (qmp.ConfigureAwait(false))
        {
            var exited = SupervisedRuntime.WaitForSupervisorAsync(handle, ct);
            while (true)
            {
                try
                {
                    await qmp.ExecuteAsync("system_powerdown", null, ct).ConfigureAwait(false);
                }
                catch (StrataException) when (!ct.IsCancellationRequested)
                {
                    // QEMU closed QMP: it is exiting.
                    await exited.ConfigureAwait(false);
                    return true;
                }
                LogPowerButton(handle.InstanceId);
                if (await Task.WhenAny(exited, Task.Delay(TimeSpan.FromSeconds(1), ct)).ConfigureAwait(false) == exited)
                {
                    await exited.ConfigureAwait(false);
                    return true;
                }
                ct.ThrowIfCancellationRequested();
            }
        }
    }

    public Task KillAsync(DriverHandle handle, int signal, CancellationToken cancellationToken) => _supervised.KillAsync(handle, signal, cancellationToken);

    Task ISupervisedTier.SignalAsync(DriverHandle handle, int signal, CancellationToken cancellationToken)
    {
        if (SupervisedRuntime.WorkloadAlive(handle))
        {
            MarkStop(handle, signal);
            SupervisedRuntime.SignalWorkloadGroup(handle, signal);
        }
        return Task.CompletedTask;
    }

    ExitStatus ISupervisedTier.ReadExit(DriverHandle handle, ExitStatus recorded) => Outcome(handle, recorded);

    ExitStatus? ISupervisedTier.ReportedExit(DriverHandle handle) =>
        SandboxGuestReport.Read(Path.Combine(handle.Directory, ControlFileName)).ExitCode is { } code
            ? new ExitStatus { ExitCode = code, FinishedAt = DateTimeOffset.UtcNow }
            : null;

    /// <summary>QEMU by its recorded identity (SIGTERM, then SIGKILL), and the virtiofsd helpers its wrapper started.</summary>
    async Task<bool> ISupervisedTier.StopOrphanAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        var ran = await SupervisedRuntime.EndWorkloadGroupAsync(handle, SupervisedRuntime.OrphanTermBudget).ConfigureAwait(false);
        VirtioFsDaemon.StopStragglers(handle.Directory);
        return ran;
    }

    private static void MarkStop(DriverHandle handle, int signal) =>
        File.WriteAllText(Path.Combine(handle.Directory, StopSignalFileName), signal.ToString(CultureInfo.InvariantCulture));

    public async Task<ExitStatus> WaitAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        var exit = await _supervised.WaitAsync(handle, cancellationToken).ConfigureAwait(false);
        if (handle.Data.TryGetValue(StartedAtKey, out var s) && DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var startedAt))
        {
            var report = SandboxGuestReport.Read(Path.Combine(handle.Directory, ControlFileName));
            LogBreakdown(handle.InstanceId, report.Breakdown(exit.FinishedAt - startedAt));
        }
        return exit;
    }

    /// <summary>
    /// How the sandbox ended. The guest's own report wins (the workload's real exit code); otherwise a stop or
    /// kill by the driver (128 + signal); otherwise QEMU's end as the supervisor recorded it, marked failed
    /// because the workload's fate is unknown.
    /// </summary>
    internal static ExitStatus Outcome(DriverHandle handle, ExitStatus? supervisorExit)
    {
        var dir = handle.Directory;
        var finishedAt = supervisorExit?.FinishedAt ?? DateTimeOffset.UtcNow;
        var report = SandboxGuestReport.Read(Path.Combine(dir, ControlFileName));
        if (report.ExitCode is { } code)
        {
            return new ExitStatus { ExitCode = code, FinishedAt = finishedAt };
        }
        var stopFile = Path.Combine(dir, StopSignalFileName);
        if (File.Exists(stopFile) && int.TryParse(File.ReadAllText(stopFile).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var signal))
        {
            return new ExitStatus { ExitCode = 128 + signal, Reason = $"signal: {Signals.Name(signal)} (the VM was stopped)", FinishedAt = finishedAt };
        }
        if (supervisorExit is { Reason: { } r } && r.StartsWith("signal:", StringComparison.Ordinal))
        {
            return supervisorExit with { Reason = r + " (QEMU was killed)" };
        }
        var qemuLog = ReadTail(Path.Combine(dir, QemuLogName));
        var why = report.Failure is { } f ? $"guest init failed: {f}"
            : qemuLog.Length > 0 ? $"QEMU exited with {supervisorExit?.ExitCode}: {qemuLog}"
            : $"the guest never reported the workload's exit code (QEMU exited with {supervisorExit?.ExitCode.ToString(CultureInfo.InvariantCulture) ?? "?"}); see {Path.Combine(dir, "serial.log")}";
        return new ExitStatus { ExitCode = supervisorExit?.ExitCode is { } q && q != 0 ? q : 255, Reason = why, Failed = true, FinishedAt = finishedAt };
    }

    private static string ReadTail(string path)
    {
        if (!File.Exists(path))
        {
            return "";
        }
        var text = File.ReadAllText(path).Trim();
        return text.Length > 2000 ? text[^2000..] : text;
    }

    public async Task<WorkloadStatus> RecoverAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        var status = await _supervised.RecoverAsync(handle, cancellationToken).ConfigureAwait(false);
        if (status.Phase == WorkloadPhase.Running && File.Exists(Path.Combine(handle.Directory, QmpSocketName)))
        {
            await AbandonUnfinishedMoveAsync(handle, cancellationToken).ConfigureAwait(false);
        }
        return status;
    }

    public async Task DeleteAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        // QEMU first (by its identity, supervisor or not): a tap in use cannot go, nor may a guest outlive its removal.
        await _supervised.EndEverythingAsync(handle, cancellationToken).ConfigureAwait(false);
        Mark("sandbox qemu ended");
        if (_options.Networks is { } networks)
        {
            // Always asked, not only when the handle names a network: a create that died between attaching and
            // returning its handle must not leave a tap or lease behind.
            await networks.DetachAsync(handle.InstanceId, cancellationToken).ConfigureAwait(false);
        }
        // The overlay is the sandbox's only engine-side resource; the shared base disk stays cached.
        foreach (var name in new[] { OverlayFileName, ExecSocketName, QmpSocketName, SetupSocketName, NamesDiskFileName })
        {
            File.Delete(Path.Combine(handle.Directory, name));
        }
        File.Delete(MemoryCopyPath(handle)); // a start with -v mounts that died before QEMU ran
        VirtioFsDaemon.StopStragglers(handle.Directory);
        foreach (var socket in Directory.EnumerateFiles(handle.Directory, "fs*.sock"))
        {
            File.Delete(socket);
        }
        var mountPoints = Path.Combine(handle.Directory, "mnt");
        if (Directory.Exists(mountPoints))
        {
            // Empty directories the bind mounts used (in virtiofsd's private namespace; never mounted on the host).
            try
            {
                foreach (var d in Directory.EnumerateDirectories(mountPoints))
                {
                    Directory.Delete(d); // never recursive: should one still be a mount, this fails instead of emptying it
                }
                Directory.Delete(mountPoints);
            }
            catch (IOException)
            {
            }
        }
    }

    public void Dispose()
    {
        _supervised.Dispose();
        if (_ownsGuest)
        {
            _guest.Dispose();
        }
    }

    /// <summary>A phase of the current run's timeline (see Strata.Control.RunTimeline; logged at debug level).</summary>
    private static void Mark(string phase) => System.Diagnostics.Activity.Current?.AddEvent(new System.Diagnostics.ActivityEvent(phase));

    [LoggerMessage(EventId = 3401, Level = LogLevel.Information, Message = "sandbox guests: kernel {Release}, accelerator {Accel} ({Reason})")]
    private partial void LogAssets(string release, string accel, string reason);

    [LoggerMessage(EventId = 3402, Level = LogLevel.Debug, Message = "sandbox {Instance}: QEMU pid {Pid} ({Accel}) running under its supervisor after {Ms:0} ms")]
    private partial void LogStarted(string instance, int pid, string accel, double ms);

    [LoggerMessage(EventId = 3403, Level = LogLevel.Debug, Message = "sandbox {Instance}: power button pressed (the workload gets SIGTERM)")]
    private partial void LogPowerButton(string instance);

    [LoggerMessage(EventId = 3404, Level = LogLevel.Warning, Message = "sandbox {Instance}: could not press the power button ({Why}); stopping QEMU")]
    private partial void LogPowerButtonFailed(string instance, string why);

    [LoggerMessage(EventId = 3405, Level = LogLevel.Debug, Message = "sandbox {Instance} start-up breakdown: {Breakdown}")]
    private partial void LogBreakdown(string instance, string breakdown);
}

/// <summary>The sandbox tier's options: the shared guest settings (<see cref="GuestDriverOptions"/>) and the sandbox's own.</summary>
public sealed record SandboxDriverOptions : GuestDriverOptions
{
    public string Busybox { get; init; } = "/bin/busybox";
    /// <summary>Null: <see cref="GuestKernel.Locate()"/>.</summary>
    public GuestKernelInfo? Kernel { get; init; }
    /// <summary>virtiofsd, for <c>-v</c> mounts; default: <see cref="Strata.Qemu.VirtioFsDaemon.Locate"/>. Null: mounts are refused.</summary>
    public string? VirtioFsDaemon { get; init; } = Strata.Qemu.VirtioFsDaemon.Locate();
    /// <summary>Start sandboxes from their image's booted template (docs/sandbox.md#templates); false: every start boots cold.</summary>
    public bool Templates { get; init; } = true;
}
