using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Cgroups;
using Strata.Node.Logs;
using Strata.Node.Images;
using Strata.Node.Supervision;
using Strata.Node.Workloads;

namespace Strata.Node.Drivers.Process;

/// <summary>
/// The <c>process</c> tier ("physical"): the command runs straight on the host, with no isolation, under a
/// strata-supervisor that outlives the daemon. Every instance has a cgroup (on cgroup v1 the pids hierarchy's, plus
/// cpu and memory when limited) that holds every process the workload starts, so stop, kill, rm -f and a lost
/// supervisor end them all, also those that left the workload's process group. This is the baseline every other tier
/// is measured against.
/// </summary>
public sealed partial class ProcessDriver : IDriver, ISupervisedTier, IDisposable
{
    internal const string ExitFileName = SupervisedRuntime.ExitFileName;
    private const string CgroupDirsKey = "cgroups";
    private const string MemoryCgroupKey = "memoryCgroup";

    private readonly ProcessDriverOptions _options;
    private readonly SupervisedRuntime _supervised;
    private readonly ILogger _logger;

    public ProcessDriver(ProcessDriverOptions options, ILogger<ProcessDriver>? logger = null)
    {
        _options = options;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _supervised = new SupervisedRuntime(this, "process", options.Supervisor, options.Launcher, options.KeepSpareSupervisor, logger: _logger);
    }

    public Tier Tier => Tier.Process;

    public DriverCapabilities Capabilities { get; } = new()
    {
        Isolation = IsolationLevel.None,
        Snapshots = SnapshotKind.None,
        NeedsImage = false,
        Exec = false,
        LiveResize = true,
        StartLatencyClass = "~5ms",
    };

    public Task<DriverFingerprint> FingerprintAsync(CancellationToken cancellationToken)
    {
        if (_supervised.MissingSupervisor() is { } missing)
        {
            return Task.FromResult(missing);
        }
        _supervised.PrepareSpare();
        var limits = CgroupSet.IsUnifiedOnly() ? "cgroup v2" : Directory.Exists("/sys/fs/cgroup/memory") ? "cgroup v1" : "no cgroups (limits unavailable)";
        return Task.FromResult(new DriverFingerprint(true, $"host processes under strata-supervisor; limits through {limits}", "strata-supervisor"));
    }

    public Task<DriverHandle> CreateAsync(CreateRequest request, CancellationToken cancellationToken)
    {
        var spec = request.Spec;
        if (spec.Image is not null)
        {
            throw StrataException.Invalid("image", "the process tier runs a host command and takes no image; drop the image or choose --tier container");
        }
        if (spec.Mounts is { Count: > 0 })
        {
            throw StrataException.Invalid("mounts", "the process tier runs on the host and already sees every host path; drop the mounts or choose an isolated tier");
        }
        if (spec.Tmpfs is { Count: > 0 })
        {
            throw StrataException.Invalid("tmpfs", "the process tier runs on the host, in the host's mount namespace; drop --tmpfs or choose --tier container");
        }
        if (spec.Resources?.Cpuset is not null || spec.Security is not null || spec.Network is not null)
        {
            throw StrataException.Invalid(spec.Resources?.Cpuset is not null ? "resources.cpuset" : spec.Security is not null ? "security" : "network",
                "the process tier runs straight on the host and cannot apply cpuset, security or network settings; drop them or choose --tier container");
        }
        var argv = Argv(spec);
        if (argv.Count == 0)
        {
            throw StrataException.Invalid("args", "the process tier needs a command, e.g. strata run --tier process -- sh -c 'echo hi'");
        }
        var env = Environment(spec, request.Name);
        if (ExecutableResolver.Resolve(argv[0], env.GetValueOrDefault("PATH") ?? ExecutableResolver.DefaultPath, spec.WorkingDir ?? "/") is null)
        {
            throw StrataException.Invalid("command", $"'{argv[0]}' was not found or is not executable (PATH={env.GetValueOrDefault("PATH")}); give a full path or fix PATH with -e PATH=...");
        }
        if (spec.WorkingDir is { } wd && !Directory.Exists(wd))
        {
            throw StrataException.Invalid("workingDir", $"'{wd}' does not exist on this host");
        }

        File.WriteAllText(Path.Combine(request.Directory, SpecFileName), System.Text.Json.JsonSerializer.Serialize(spec, StrataJsonContext.Default.InstanceSpec));
        var data = new Dictionary<string, string>();
        if (CreateCgroups(request.InstanceId, spec.Resources) is { } cgroups)
        {
            data[CgroupDirsKey] = string.Join('\n', cgroups.Directories);
            if (cgroups.MemoryDirectory is { } mem)
            {
                data[MemoryCgroupKey] = mem;
            }
        }
        LogCreated(request.Name, request.InstanceId, argv[0], data.ContainsKey(CgroupDirsKey));
        return Task.FromResult(new DriverHandle
        {
            InstanceId = request.InstanceId,
            Directory = request.Directory,
            Data = data,
        });
    }

    /// <summary>
    /// The instance's cgroups: its limits, and in any case one that tracks its processes. Without a limit asked for, a
    /// host where no cgroup can be made (no pids hierarchy, not root) runs the workload untracked rather than not at
    /// all, and says so in the log; a limit that cannot be applied is an error.
    /// </summary>
    private CgroupSet? CreateCgroups(string instanceId, ResourceSpec? resources)
    {
        if (CgroupSet.Wanted(resources))
        {
            return CgroupSet.Create(instanceId, resources!, _options.CgroupParent, track: true);
        }
        try
        {
            return CgroupSet.Create(instanceId, new ResourceSpec(), _options.CgroupParent, track: true);
        }
        catch (StrataException e) when (e.Kind == ErrorKind.Unavailable)
        {
            LogUntracked(instanceId, e.InnerException?.Message ?? e.Message);
            return null;
        }
    }

    /// <summary>command ++ args: the shared rules (docs/workload.md) with no image behind them.</summary>
    internal static IReadOnlyList<string> Argv(InstanceSpec spec) => WorkloadResolver.Argv(spec.Command, spec.Args, NoImage);

    private static readonly ImageConfig NoImage = new();

    internal static Dictionary<string, string> Environment(InstanceSpec spec, string name)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["PATH"] = ExecutableResolver.DefaultPath,
            ["HOME"] = "/root",
            ["HOSTNAME"] = System.Environment.MachineName,
            [WorkloadResolver.InstanceVariable] = name,
        };
        if (spec.Env is { } extra)
        {
            foreach (var (k, v) in extra)
            {
                env[k] = v;
            }
        }
        return env;
    }

    public async Task<DriverHandle> StartAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        _supervised.RequireSupervisor();
        var specPath = Path.Combine(handle.Directory, SpecFileName);
        var spec = System.Text.Json.JsonSerializer.Deserialize(await File.ReadAllTextAsync(specPath, cancellationToken).ConfigureAwait(false), StrataJsonContext.Default.InstanceSpec)!;
        var config = new SupervisorConfig
        {
            Argv = Argv(spec),
            Env = Environment(spec, spec.Name ?? handle.InstanceId),
            WorkingDir = spec.WorkingDir ?? "/",
            LogDirectory = LogFiles.LogDirectory(handle.Directory),
            LogMaxBytes = _options.LogMaxBytes,
            ExitFile = SupervisedRuntime.ExitFilePath(handle),
            CgroupProcsFiles = [.. Cgroups(handle)?.ProcsFiles ?? []],
            MemoryCgroup = handle.Data.GetValueOrDefault(MemoryCgroupKey),
        };
        var started = await _supervised.LaunchAsync(handle, config, cancellationToken).ConfigureAwait(false);
        LogStarted(handle.InstanceId, started.Pid ?? 0, started.SupervisorPid ?? 0);
        return started;
    }

    private static CgroupSet? Cgroups(DriverHandle handle) =>
        handle.Data.TryGetValue(CgroupDirsKey, out var dirs) ? CgroupSet.Open(dirs.Split('\n'), handle.Data.GetValueOrDefault(MemoryCgroupKey)) : null;

    /// <summary>The spec is kept beside the handle so a start after a daemon restart needs nothing else.</summary>
    internal const string SpecFileName = "spec.json";

    public Task StopAsync(DriverHandle handle, TimeSpan grace, CancellationToken cancellationToken) => _supervised.StopAsync(handle, grace, cancellationToken);

    public Task KillAsync(DriverHandle handle, int signal, CancellationToken cancellationToken) => _supervised.KillAsync(handle, signal, cancellationToken);

    public Task<ExitStatus> WaitAsync(DriverHandle handle, CancellationToken cancellationToken) => _supervised.WaitAsync(handle, cancellationToken);

    public Task<WorkloadStatus> RecoverAsync(DriverHandle handle, CancellationToken cancellationToken) => _supervised.RecoverAsync(handle, cancellationToken);

    public async Task DeleteAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        await _supervised.EndEverythingAsync(handle, cancellationToken).ConfigureAwait(false);
        if (Cgroups(handle) is { } cgroups)
        {
            await cgroups.DeleteAsync().ConfigureAwait(false);
        }
        LogDeleted(handle.InstanceId);
    }

    // ---- the supervised tier: SIGTERM to the workload's process group; its cgroup holds whatever left the group

    Task<bool> ISupervisedTier.StopGracefullyAsync(DriverHandle handle, TimeSpan grace, CancellationToken cancellationToken) =>
        _supervised.TerminateWithinAsync(handle, grace, cancellationToken);

    Task ISupervisedTier.SignalAsync(DriverHandle handle, int signal, CancellationToken cancellationToken)
    {
        SupervisedRuntime.SignalWorkloadGroup(handle, signal);
        return Task.CompletedTask;
    }

    ExitStatus ISupervisedTier.ReadExit(DriverHandle handle, ExitStatus recorded) => recorded;

    ExitStatus? ISupervisedTier.ReportedExit(DriverHandle handle) => null;

    async Task<bool> ISupervisedTier.StopOrphanAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        // No log pipes and no exit record are possible any more: SIGKILL at once, then every process of its cgroup.
        var ran = await SupervisedRuntime.EndWorkloadGroupAsync(handle, TimeSpan.Zero).ConfigureAwait(false);
        return (Cgroups(handle) is { } cgroups && await cgroups.KillAllAsync().ConfigureAwait(false)) || ran;
    }

    public void Dispose() => _supervised.Dispose();
}

public sealed record ProcessDriverOptions
{
    public string? Supervisor { get; init; }
    public long LogMaxBytes { get; init; } = 10 * 1024 * 1024;
    /// <summary>Keep one supervisor started ahead of time for the next run (the daemon does; see SupervisorLauncher).</summary>
    public bool KeepSpareSupervisor { get; init; }
    /// <summary>The daemon's launcher, shared by its supervised tiers (one standby supervisor for all); null: the driver's own.</summary>
    public SupervisorLauncher? Launcher { get; init; }
    /// <summary>The cgroup instances' cgroups live under (<see cref="NodeScope.CgroupParent"/>).</summary>
    public string CgroupParent { get; init; } = CgroupSet.DefaultParent;
}
