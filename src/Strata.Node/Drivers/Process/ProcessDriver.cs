using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Cgroups;
using Strata.Node.Logs;
using Strata.Node.Supervision;

namespace Strata.Node.Drivers.Process;

/// <summary>
/// The <c>process</c> tier ("physical"): the command runs straight on the host, with no isolation, under a
/// strata-supervisor that outlives the daemon. Limits (cpu, memory, pids) are applied through cgroups when
/// asked for. This is the baseline every other tier is measured against.
/// </summary>
public sealed class ProcessDriver : IDriver, IDisposable
{
    internal const string ExitFileName = "exit.json";
    private const string CgroupDirsKey = "cgroups";
    private const string MemoryCgroupKey = "memoryCgroup";

    private readonly ProcessDriverOptions _options;
    private readonly ExitWatcher _watcher = new();
    private readonly string? _supervisor;

    public ProcessDriver(ProcessDriverOptions options)
    {
        _options = options;
        _supervisor = options.Supervisor ?? SupervisorLauncher.Locate();
    }

    public Tier Tier => Tier.Process;

    public DriverCapabilities Capabilities { get; } = new()
    {
        Isolation = IsolationLevel.None,
        Snapshots = SnapshotKind.None,
        NeedsImage = false,
        Exec = false,
        LiveResize = false,
        StartLatencyClass = "~5ms",
    };

    public Task<DriverFingerprint> FingerprintAsync(CancellationToken cancellationToken)
    {
        if (_supervisor is null || !File.Exists(_supervisor))
        {
            return Task.FromResult(DriverFingerprint.Unavailable(
                "strata-supervisor was not found next to stratad or on PATH; reinstall Strata (scripts/setup.sh) or pass --supervisor"));
        }
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
        if (CgroupSet.Wanted(spec.Resources))
        {
            var cgroups = CgroupSet.Create(request.InstanceId, spec.Resources!);
            data[CgroupDirsKey] = string.Join('\n', cgroups.Directories);
            if (cgroups.MemoryDirectory is { } mem)
            {
                data[MemoryCgroupKey] = mem;
            }
        }
        return Task.FromResult(new DriverHandle
        {
            InstanceId = request.InstanceId,
            Directory = request.Directory,
            Data = data,
        });
    }

    internal static IReadOnlyList<string> Argv(InstanceSpec spec) => [.. spec.Command ?? [], .. spec.Args ?? []];

    internal static Dictionary<string, string> Environment(InstanceSpec spec, string name)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["PATH"] = ExecutableResolver.DefaultPath,
            ["HOME"] = "/root",
            ["HOSTNAME"] = System.Environment.MachineName,
            ["STRATA_INSTANCE"] = name,
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
        if (_supervisor is null)
        {
            throw new StrataException(ErrorKind.Unavailable, "strata-supervisor was not found; reinstall Strata or pass --supervisor to stratad");
        }
        var specPath = Path.Combine(handle.Directory, SpecFileName);
        var spec = System.Text.Json.JsonSerializer.Deserialize(await File.ReadAllTextAsync(specPath, cancellationToken).ConfigureAwait(false), StrataJsonContext.Default.InstanceSpec)!;
        var exitFile = Path.Combine(handle.Directory, ExitFileName);
        File.Delete(exitFile); // a restart must not see the previous run's exit
        var cgroupDirs = handle.Data.TryGetValue(CgroupDirsKey, out var dirs) ? dirs.Split('\n') : [];
        var config = new SupervisorConfig
        {
            Argv = Argv(spec),
            Env = Environment(spec, spec.Name ?? handle.InstanceId),
            WorkingDir = spec.WorkingDir ?? "/",
            LogDirectory = LogFiles.LogDirectory(handle.Directory),
            LogMaxBytes = _options.LogMaxBytes,
            ExitFile = exitFile,
            CgroupProcsFiles = [.. cgroupDirs.Select(d => Path.Combine(d, "cgroup.procs"))],
            MemoryCgroup = handle.Data.GetValueOrDefault(MemoryCgroupKey),
        };
        var launched = await new SupervisorLauncher(_supervisor).StartAsync(handle.Directory, config, cancellationToken).ConfigureAwait(false);
        return handle with
        {
            Pid = launched.Pid,
            PidStartTicks = launched.PidStartTicks,
            SupervisorPid = launched.SupervisorPid,
            SupervisorStartTicks = launched.SupervisorStartTicks,
        };
    }

    /// <summary>The spec is kept beside the handle so a start after a daemon restart needs nothing else.</summary>
    internal const string SpecFileName = "spec.json";

    public async Task StopAsync(DriverHandle handle, TimeSpan grace, CancellationToken cancellationToken)
    {
        if (handle.Pid is not { } pid || handle.SupervisorPid is not { } sup || handle.SupervisorStartTicks is not { } ticks)
        {
            return;
        }
        if (grace > TimeSpan.Zero && Signals.SendToGroup(pid, Signals.SIGTERM))
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(grace);
            try
            {
                await _watcher.WaitForExitAsync(sup, ticks, timeout.Token).ConfigureAwait(false);
                return;
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // grace period over
            }
        }
        Signals.SendToGroup(pid, Signals.SIGKILL);
    }

    public Task KillAsync(DriverHandle handle, int signal, CancellationToken cancellationToken)
    {
        if (handle.Pid is { } pid)
        {
            Signals.SendToGroup(pid, signal);
        }
        return Task.CompletedTask;
    }

    public async Task<ExitStatus> WaitAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        if (handle.SupervisorPid is not { } sup || handle.SupervisorStartTicks is not { } ticks)
        {
            throw new StrataException(ErrorKind.Internal, "the instance was never started");
        }
        await _watcher.WaitForExitAsync(sup, ticks, cancellationToken).ConfigureAwait(false);
        return ReadExit(handle) ?? new ExitStatus
        {
            ExitCode = -1,
            Failed = true,
            Reason = "the supervisor ended without recording the workload's exit",
            FinishedAt = DateTimeOffset.UtcNow,
        };
    }

    private static ExitStatus? ReadExit(DriverHandle handle) => ExitFile.TryRead(Path.Combine(handle.Directory, ExitFileName));

    public Task<WorkloadStatus> RecoverAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        if (ReadExit(handle) is { } exit)
        {
            return Task.FromResult(new WorkloadStatus(WorkloadPhase.Exited, exit));
        }
        if (handle.SupervisorPid is { } sup && handle.SupervisorStartTicks is { } ticks && ProcessIdentity.IsAlive(sup, ticks))
        {
            return Task.FromResult(new WorkloadStatus(WorkloadPhase.Running));
        }
        // The supervisor is gone without an exit record (killed). Do not leave an unsupervised workload behind.
        if (handle.Pid is { } pid && handle.PidStartTicks is { } pticks && ProcessIdentity.IsAlive(pid, pticks))
        {
            Signals.SendToGroup(pid, Signals.SIGKILL);
            return Task.FromResult(new WorkloadStatus(WorkloadPhase.Lost, Reason: "the supervisor was killed; the orphaned workload was killed too"));
        }
        return Task.FromResult(new WorkloadStatus(WorkloadPhase.Lost, Reason: "the supervisor disappeared without recording an exit"));
    }

    public Task DeleteAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        if (handle.Data.TryGetValue(CgroupDirsKey, out var dirs))
        {
            CgroupSet.Open(dirs.Split('\n'), handle.Data.GetValueOrDefault(MemoryCgroupKey)).Delete();
        }
        return Task.CompletedTask;
    }

    public void Dispose() => _watcher.Dispose();
}

public sealed record ProcessDriverOptions
{
    public string? Supervisor { get; init; }
    public long LogMaxBytes { get; init; } = 10 * 1024 * 1024;
}
