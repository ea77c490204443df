using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Contracts.Host;
using Strata.Node.Cgroups;
using Strata.Node.Images;
using Strata.Node.Workloads;
using Strata.Node.Logs;
using Strata.Node.Networking;
using Strata.Node.Supervision;

namespace Strata.Node.Drivers.Container;

/// <summary>
/// The <c>container</c> tier: an OCI image in namespaces and cgroups, run by runc or crun (probed, see
/// <see cref="OciRuntime"/>). The instance directory is the OCI bundle (<c>config.json</c> + an overlay
/// <c>rootfs</c>). The supervisor holds a foreground <c>runc run</c>: the runtime's stdio is the container's
/// stdio, its exit code is the container's, and it forwards signals — so logs, exit records and survival of
/// daemon restarts work exactly as for the process tier. (<c>create</c> + <c>start</c> would give the
/// container pid earlier, but the supervisor would then watch a process that exits at once.)
/// </summary>
public sealed partial class ContainerDriver : IDriver, ISupervisedTier, IExecDriver, IInteractiveExecDriver, IStatsDriver, ISnapshotDriver, IRuntimeConfigDriver, ICommitDriver, INetworkConnectDriver, IDisposable
{
    internal const string ExitFileName = SupervisedRuntime.ExitFileName;
    internal const string KilledMarkerName = "killed-by-strata";
    private const string RuntimeKey = "runtime";
    private const string LayersKey = "layers";
    private const string ImageKey = "image";
    private const string CgroupDirsKey = "cgroups";
    private const string VolatileKey = "volatileRootfs";
    private const string PidsLimitKey = "pidsLimit";
    private const string MemoryCgroupKey = "memoryCgroup";
    private const string NetworkKey = "network";
    private const string AddressKey = "address";
    private const string ConsoleKey = "console";
    private const string TerminalSizeKey = "terminalSize";
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, IDisposable> _consoleHolds = new();

    private void ReleaseConsole(string instanceId)
    {
        if (_consoleHolds.TryRemove(instanceId, out var hold))
        {
            hold.Dispose();
        }
    }
    internal const string HostsFileName = "hosts";

    private readonly ContainerDriverOptions _options;
    private readonly IImageResolver _images;
    private readonly SupervisedRuntime _supervised;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _probeLock = new(1, 1);
    private OciRuntime? _runtime;
    private string _probeReport = "not probed yet";
    private string? _criu;

    public ContainerDriver(ContainerDriverOptions options, IImageResolver images, ILogger<ContainerDriver>? logger = null)
    {
        _options = options;
        _images = images;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _supervised = new SupervisedRuntime(this, "container", options.Supervisor, options.Launcher, options.KeepSpareSupervisor, logger: _logger);
    }

    public Tier Tier => Tier.Container;

    public DriverCapabilities Capabilities { get; } = new()
    {
        Isolation = IsolationLevel.Kernel,
        Snapshots = SnapshotKind.Filesystem,
        Networks = true,
        NeedsImage = true,
        Exec = true,
        LiveResize = true,
        StartLatencyClass = "~50ms",
    };

    /// <summary>The runtime in use (after the first fingerprint), and why.</summary>
    public OciRuntime? Runtime => _runtime;

    /// <summary>Why stateful (CRIU) checkpoints are or are not available here.</summary>
    public string CheckpointStatus => _criu ?? "not checked yet";

    public async Task<DriverFingerprint> FingerprintAsync(CancellationToken cancellationToken)
    {
        if (_supervised.MissingSupervisor() is { } missing)
        {
            return missing;
        }
        var criu = CheckCriuAsync(cancellationToken);
        var runtime = await EnsureRuntimeAsync(cancellationToken).ConfigureAwait(false);
        _criu = await criu.ConfigureAwait(false);
        if (runtime is null)
        {
            return DriverFingerprint.Unavailable("no working OCI runtime: " + _probeReport);
        }
        var skipped = _probeReport.Length > 0 ? $" (also tried: {_probeReport})" : "";
        _supervised.PrepareSpare();
        return new DriverFingerprint(true, $"{runtime.Reason}{skipped}; {_criu}", $"{runtime.Name} {runtime.Version}");
    }

    private async Task<OciRuntime?> EnsureRuntimeAsync(CancellationToken ct)
    {
        if (_runtime is not null)
        {
            return _runtime;
        }
        await _probeLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_runtime is null)
            {
                var (runtime, report) = await OciRuntime.ProbeAsync(_options.RuntimeStateRoot, _options.Runtime, ct, _options.CgroupParent).ConfigureAwait(false);
                _probeReport = report;
                _runtime = runtime;
                if (runtime is null)
                {
                    LogNoRuntime(report);
                }
                else
                {
                    LogRuntimeChosen(runtime.ToString(), runtime.Reason, report.Length > 0 ? report : "nothing else");
                }
            }
            return _runtime;
        }
        finally
        {
            _probeLock.Release();
        }
    }

    private async Task<OciRuntime> RuntimeAsync(CancellationToken ct) =>
        await EnsureRuntimeAsync(ct).ConfigureAwait(false)
        ?? throw new StrataException(ErrorKind.Unavailable, "the container tier has no working OCI runtime: " + _probeReport);

    /// <summary>CRIU is only detected: stateful checkpoints need it to pass <c>criu check</c> on this kernel.</summary>
    private static async Task<string> CheckCriuAsync(CancellationToken ct)
    {
        var criu = OciRuntime.Which("criu");
        if (criu is null)
        {
            return "stateful checkpoints unavailable: criu is not installed";
        }
        try
        {
            var r = await OciRuntime.Exec(criu, ["check"], ct, TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            var lines = (r.Stderr + r.Stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            if (r.ExitCode == 0 && !lines.Any(l => l.StartsWith("Error", StringComparison.Ordinal)))
            {
                return "criu check passed (stateful checkpoints are not implemented yet; snapshots are filesystem-only)";
            }
            // The first error that names a failure says why (e.g. the vDSO check); the rest are consequences.
            var errors = lines.Where(l => l.StartsWith("Error", StringComparison.Ordinal)).ToList();
            var reason = errors.FirstOrDefault(l => l.Contains("failed", StringComparison.OrdinalIgnoreCase)) ?? errors.LastOrDefault() ?? lines.LastOrDefault() ?? $"exit {r.ExitCode}";
            return "stateful checkpoints unavailable: criu check failed: " + reason.Trim();
        }
        catch (StrataException e) when (e.Kind == ErrorKind.Unavailable)
        {
            return "stateful checkpoints unavailable: " + e.Message;
        }
    }

    // ------------------------------------------------------------------ create

    /// <summary>What the container's process is (argv, env, user, workdir): the rules every OCI tier shares.</summary>
    internal static ResolvedWorkload Workload(InstanceSpec spec, string name, ResolvedImage image) =>
        WorkloadResolver.Resolve(spec, name, image.Config, image.LayerDirectories, TierNames.Container);

    public async Task<DriverHandle> CreateAsync(CreateRequest request, CancellationToken cancellationToken)
    {
        var spec = request.Spec;
        BundleBuilder.Validate(spec);
        var runtime = await RuntimeAsync(cancellationToken).ConfigureAwait(false);
        CreateProgress.Report("image", $"resolving image {spec.Image}");
        var image = await _images.ResolveAsync(spec.Image!, cancellationToken).ConfigureAwait(false);
        Mark("image resolved");
        var workload = Workload(spec, request.Name, image);

        CreateProgress.Report("rootfs", "preparing the root file system and the bundle");
        var rootfs = new ContainerRootfs(request.Directory, image.LayerDirectories, spec.AutoRemove);
        rootfs.CreateDirectories();
        var cgroups = new ContainerCgroups(request.InstanceId, _options.CgroupParent);
        var resources = (spec.Resources ?? new ResourceSpec()) with { Pids = spec.Resources?.Pids ?? _options.DefaultPidsLimit };
        // See ContainerCgroups: the runtime applies the limits in its own cgroup, except a memory limit, which
        // lives in a Strata-owned parent so the OOM counters survive the container. A runtime that manages no
        // cgroups (crun on hybrid hosts) gets every limit from Strata's cgroups instead.
        await using var revert = new Revert();
        CgroupSet? limits = !runtime.ManagesCgroups ? CgroupSet.Create(request.InstanceId, resources, _options.CgroupParent)
            : resources.MemoryBytes is { } memoryLimit ? CgroupSet.Create(request.InstanceId, new ResourceSpec { MemoryBytes = memoryLimit }, _options.CgroupParent)
            : null;
        if (limits is not null)
        {
            revert.AddAsync(limits.DeleteAsync);
        }
        NetworkAttachment? network = null;
        if (NetworkName(spec) is { } networkName)
        {
            var registry = NetworkRegistry.Require(_options.Networks, spec, networkName, "--network none or host");
            CreateProgress.Report("network", $"joining network {networkName}");
            var hosts = Path.Combine(request.Directory, HostsFileName);
            NetworkRegistry.PrepareHostsFile(hosts, request.Name);
            network = await registry.AttachAsync(NetworkAttachRequest.For(request, spec, networkName, hosts), cancellationToken).ConfigureAwait(false);
            revert.AddAsync(() => registry.DetachAsync(request.InstanceId, CancellationToken.None));
            ResolvConf.WriteForBridge(Path.Combine(request.Directory, ResolvConf.FileName), registry.Get(network.Network, request.Project).Internal);
        }
        var config = BundleBuilder.Build(new BundleBuilder.Plan
        {
            Hostname = request.Name,
            Workload = workload,
            RootfsPath = rootfs.Merged,
            CgroupsPath = cgroups.RuntimePath(nested: limits is not null),
            Spec = spec with { Resources = resources with { MemoryBytes = null } },
            NetworkNamespacePath = network?.NamespacePath,
            HostsFile = network is null ? null : Path.Combine(request.Directory, HostsFileName),
            ResolvConf = network is not null ? Path.Combine(request.Directory, ResolvConf.FileName)
                : spec.Network == "host" && File.Exists(ResolvConf.HostPath) ? ResolvConf.HostPath
                : null,
        });
        // Written in place (10 KB): an asynchronous write only adds a hop through the thread pool here.
        File.WriteAllText(Path.Combine(request.Directory, "config.json"), config.ToJsonString());
        Mark("bundle written");
        var data = new Dictionary<string, string>
        {
            [RuntimeKey] = $"{runtime.Name} {runtime.Version}",
            [ImageKey] = image.Digest,
            [LayersKey] = string.Join('\n', image.LayerDirectories),
            [PidsLimitKey] = resources.Pids!.Value.ToString(CultureInfo.InvariantCulture),
        };
        if (limits is not null)
        {
            data[CgroupDirsKey] = string.Join('\n', limits.Directories);
        }
        if (rootfs.Volatile)
        {
            data[VolatileKey] = "true";
        }
        if (limits?.MemoryDirectory is { } mem)
        {
            data[MemoryCgroupKey] = mem;
        }
        if (network is not null)
        {
            data[NetworkKey] = network.Network;
            data[AddressKey] = network.Address;
        }
        if (spec.Tty || spec.Stdin)
        {
            // Made now, so that input written between create and start (docker run -i attaches first) waits in it.
            ConsoleChannel.Create(ConsoleChannel.PathIn(request.Directory));
            // Held open until the supervisor has it: a FIFO nobody holds forgets what was written to it.
            _consoleHolds[request.InstanceId] = ConsoleChannel.Hold(ConsoleChannel.PathIn(request.Directory));
            data[ConsoleKey] = (spec.Tty ? "tty" : "") + (spec.Stdin ? " stdin" : "");
            if (spec is { Tty: true, TerminalSize: { } size })
            {
                data[TerminalSizeKey] = string.Create(CultureInfo.InvariantCulture, $"{size.Columns}x{size.Rows}");
            }
        }
        revert.Success();
        LogCreated(request.Name, request.InstanceId, spec.Image!, image.Digest, network?.Network ?? spec.Network ?? "none", runtime.Name);
        return new DriverHandle { InstanceId = request.InstanceId, Directory = request.Directory, Data = data };
    }

    /// <summary>The network an instance joins: the one named, the default bridge when it publishes ports, else none.</summary>
    internal string? NetworkName(InstanceSpec spec) => spec.Network switch
    {
        "none" or "host" => null,
        null => spec.Ports is { Count: > 0 } ? _options.Networks?.DefaultNetwork ?? "strata0" : null,
        var name => name,
    };

    /// <summary>The overlay's upper directory: every write of the container (<see cref="ICommitDriver"/>).</summary>
    public string ChangesDirectory(DriverHandle handle) => Path.Combine(handle.Directory, ContainerRootfs.UpperName);

    private static ContainerRootfs Rootfs(DriverHandle handle) =>
        new(handle.Directory, handle.Data.TryGetValue(LayersKey, out var l) ? l.Split('\n') : [], handle.Data.ContainsKey(VolatileKey));

    // ------------------------------------------------------------------ start / stop

    public async Task<DriverHandle> StartAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        _supervised.RequireSupervisor();
        var runtime = await RuntimeAsync(cancellationToken).ConfigureAwait(false);
        Rootfs(handle).EnsureMounted();
        Mark("overlay mounted");
        if (handle.Data.ContainsKey(NetworkKey) && _options.Networks is { } networks)
        {
            // After a reboot the named namespace is gone (it lives in /run); the config names its path, so it comes back first.
            await networks.EnsureAttachedAsync(handle.InstanceId, cancellationToken).ConfigureAwait(false);
        }
        if (runtime.HasState(handle.InstanceId))
        {
            // Left over from a run whose runtime was killed: a new run under the same id would be refused.
            LogStaleRuntimeState(handle.InstanceId, runtime.Name);
            await runtime.RunAsync(["delete", "--force", handle.InstanceId], cancellationToken).ConfigureAwait(false);
        }
        File.Delete(Path.Combine(handle.Directory, KilledMarkerName));
        var cgroupDirs = handle.Data.TryGetValue(CgroupDirsKey, out var dirs) ? dirs.Split('\n') : [];
        var config = new SupervisorConfig
        {
            Argv = runtime.RunArgv(handle.Directory, handle.InstanceId),
            Env = new Dictionary<string, string> { ["PATH"] = BundleBuilder.DefaultPath },
            WorkingDir = "/",
            LogDirectory = LogFiles.LogDirectory(handle.Directory),
            LogMaxBytes = _options.LogMaxBytes,
            ExitFile = SupervisedRuntime.ExitFilePath(handle),
            // A runtime that manages cgroups moves the container into its own; one that does not (crun on hybrid
            // hosts) is started inside the instance's cgroups so that the container inherits them.
            CgroupProcsFiles = runtime.ManagesCgroups ? [] : [.. cgroupDirs.Select(d => Path.Combine(d, "cgroup.procs"))],
            MemoryCgroup = handle.Data.GetValueOrDefault(MemoryCgroupKey),
            // runc and crun set up their own signal handling: no exec-mode step in between (one process less).
            SpawnDirectly = runtime.ManagesCgroups,
            // An auto-removed container's exit record only has to outlive a daemon crash, not a host crash.
            VolatileExitFile = handle.Data.ContainsKey(VolatileKey),
            Terminal = handle.Data.GetValueOrDefault(ConsoleKey)?.Contains("tty", StringComparison.Ordinal) == true,
            Stdin = handle.Data.GetValueOrDefault(ConsoleKey)?.Contains("stdin", StringComparison.Ordinal) == true,
            ConsoleFifo = handle.Data.ContainsKey(ConsoleKey) ? ConsoleChannel.PathIn(handle.Directory) : null,
            // The supervisor's terminal has the container's first size too: runc copies it over at the start.
            TerminalSize = handle.Data.GetValueOrDefault(TerminalSizeKey),
        };
        if (config.ConsoleFifo is { } fifo)
        {
            ConsoleChannel.Create(fifo); // a copy of the instance (move, restore) may not have it
        }
        var started = await _supervised.LaunchAsync(handle, config, cancellationToken).ConfigureAwait(false);
        ReleaseConsole(handle.InstanceId);
        Mark("supervisor handshake");
        LogStarted(handle.InstanceId, started.Pid ?? 0, started.SupervisorPid ?? 0);
        return started;
    }

    public Task StopAsync(DriverHandle handle, TimeSpan grace, CancellationToken cancellationToken) => _supervised.StopAsync(handle, grace, cancellationToken);

    public Task KillAsync(DriverHandle handle, int signal, CancellationToken cancellationToken) => _supervised.KillAsync(handle, signal, cancellationToken);

    public Task<ExitStatus> WaitAsync(DriverHandle handle, CancellationToken cancellationToken) => _supervised.WaitAsync(handle, cancellationToken);

    public Task<WorkloadStatus> RecoverAsync(DriverHandle handle, CancellationToken cancellationToken) => _supervised.RecoverAsync(handle, cancellationToken);

    // ---- the supervised tier: signals go through the OCI runtime; an orphaned container is removed by it

    Task<bool> ISupervisedTier.StopGracefullyAsync(DriverHandle handle, TimeSpan grace, CancellationToken cancellationToken) =>
        // A shell as PID 1 ignores SIGTERM: then the grace period runs out.
        _supervised.TerminateWithinAsync(handle, grace, cancellationToken);

    Task ISupervisedTier.SignalAsync(DriverHandle handle, int signal, CancellationToken cancellationToken) => SignalAsync(handle, signal, cancellationToken);

    ExitStatus ISupervisedTier.ReadExit(DriverHandle handle, ExitStatus recorded) => ReadExit(handle, recorded);

    ExitStatus? ISupervisedTier.ReportedExit(DriverHandle handle) => null;

    /// <summary>The container's runtime removes it (every process of its cgroup); the runtime process and Strata's limit cgroups are emptied too.</summary>
    async Task<bool> ISupervisedTier.StopOrphanAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        var ran = false;
        if (await EnsureRuntimeAsync(cancellationToken).ConfigureAwait(false) is { } runtime && runtime.HasState(handle.InstanceId))
        {
            ran = await runtime.StateAsync(handle.InstanceId, cancellationToken).ConfigureAwait(false) is { Status: not "stopped" };
            await runtime.RunAsync(["delete", "--force", handle.InstanceId], cancellationToken).ConfigureAwait(false);
        }
        ran |= await SupervisedRuntime.EndWorkloadGroupAsync(handle, TimeSpan.Zero).ConfigureAwait(false);
        if (handle.Data.TryGetValue(CgroupDirsKey, out var dirs))
        {
            ran |= await CgroupSet.Open(dirs.Split('\n'), handle.Data.GetValueOrDefault(MemoryCgroupKey)).KillAllAsync().ConfigureAwait(false);
        }
        return ran;
    }

    /// <summary>
    /// Signals the container's init through the runtime. Before the container exists (just started) or after
    /// it is gone, the runtime process itself is signalled: it forwards signals to the container once it runs.
    /// </summary>
    private async Task SignalAsync(DriverHandle handle, int signal, CancellationToken ct)
    {
        if (signal == Signals.SIGKILL)
        {
            File.WriteAllText(Path.Combine(handle.Directory, KilledMarkerName), "");
        }
        var runtime = await RuntimeAsync(ct).ConfigureAwait(false);
        if (runtime.HasState(handle.InstanceId))
        {
            var r = await runtime.RunAsync(["kill", handle.InstanceId, signal.ToString(CultureInfo.InvariantCulture)], ct).ConfigureAwait(false);
            if (r.ExitCode == 0)
            {
                return;
            }
        }
        if (handle.Pid is { } pid && handle.PidStartTicks is { } ticks && ProcessIdentity.IsAlive(pid, ticks))
        {
            Signals.Send(pid, signal);
        }
    }

    private ExitStatus ReadExit(DriverHandle handle, ExitStatus exit)
    {
        var killedByUs = File.Exists(Path.Combine(handle.Directory, KilledMarkerName));
        if (!exit.OomKilled && new ContainerCgroups(handle.InstanceId, _options.CgroupParent).OomKilled(handle.Data.GetValueOrDefault(MemoryCgroupKey), exit, killedByUs))
        {
            exit = exit with { OomKilled = true, Reason = "oom-killed" };
        }
        else if (exit.ExitCode > 128 && exit.ExitCode < 160 && exit.Reason is null)
        {
            // The runtime reports a container killed by a signal as 128+n, like a shell.
            exit = exit with { Reason = "signal: " + Signals.Name(exit.ExitCode - 128) };
        }
        return exit;
    }

    public async Task DeleteAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        ReleaseConsole(handle.InstanceId);
        if (SupervisedRuntime.SupervisorAlive(handle))
        {
            // Removing a running container (the contract says it is not; a supervisor that outlived its stop is ended here).
            await _supervised.EndEverythingAsync(handle, cancellationToken).ConfigureAwait(false);
        }
        if (await EnsureRuntimeAsync(cancellationToken).ConfigureAwait(false) is { } runtime && runtime.HasState(handle.InstanceId))
        {
            await runtime.RunAsync(["delete", "--force", handle.InstanceId], cancellationToken).ConfigureAwait(false);
            Mark("runtime delete");
        }
        Rootfs(handle).Unmount();
        Mark("overlay unmounted");
        if (_options.Networks is { } networks)
        {
            // Always asked, not only when the handle names a network: a create that died between attaching and
            // returning its handle must not leave a namespace, veth or lease behind.
            await networks.DetachAsync(handle.InstanceId, cancellationToken).ConfigureAwait(false);
        }
        await new ContainerCgroups(handle.InstanceId, _options.CgroupParent).DeleteAsync().ConfigureAwait(false);
        if (handle.Data.TryGetValue(CgroupDirsKey, out var dirs))
        {
            await CgroupSet.Open(dirs.Split('\n'), handle.Data.GetValueOrDefault(MemoryCgroupKey)).DeleteAsync().ConfigureAwait(false);
        }
        Mark("cgroups removed");
        LogDeleted(handle.InstanceId);
    }

    /// <summary>A phase of the current run's timeline (see Strata.Control.RunTimeline; logged at debug level).</summary>
    private static void Mark(string phase) => Activity.Current?.AddEvent(new ActivityEvent(phase));

    public void Dispose()
    {
        _supervised.Dispose();
        _probeLock.Dispose();
    }
}

public sealed record ContainerDriverOptions
{
    public string? Supervisor { get; init; }
    public long LogMaxBytes { get; init; } = 10 * 1024 * 1024;
    /// <summary><c>runc</c>, <c>crun</c> or a path; null: probe and prefer runc.</summary>
    public string? Runtime { get; init; }
    /// <summary>The runtime's state directory (<c>--root</c>); under /run so it is cleared by a reboot, like the containers.</summary>
    public string RuntimeStateRoot { get; init; } = "/run/strata/oci";
    /// <summary>The cgroup instances' cgroups live under (<see cref="NodeScope.CgroupParent"/>).</summary>
    public string CgroupParent { get; init; } = CgroupSet.DefaultParent;
    /// <summary>Podman's default: enough for real workloads, small enough that a fork bomb stays contained.</summary>
    public long DefaultPidsLimit { get; init; } = BundleBuilder.DefaultPidsLimit;
    /// <summary>Bridge networks instances may join (<c>--network NAME</c>, <c>-p</c>); null: only none and host.</summary>
    public NetworkRegistry? Networks { get; init; }
    /// <summary>Keep one supervisor started ahead of time for the next run (the daemon does; see SupervisorLauncher).</summary>
    public bool KeepSpareSupervisor { get; init; }
    /// <summary>The daemon's launcher, shared by its supervised tiers (one standby supervisor for all); null: the driver's own.</summary>
    public SupervisorLauncher? Launcher { get; init; }
}
