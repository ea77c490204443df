using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Logs;
using Strata.Node.Workloads;

namespace Strata.Node.Drivers.Wasm;

public sealed record WasmDriverOptions
{
    /// <summary>Where compiled code is cached (keyed by module digest and engine key).</summary>
    public required string CacheDirectory { get; init; }
    public long LogMaxBytes { get; init; } = 1024 * 1024;
    /// <summary>Asked in order before the built-in host-file source (the image store plugs in here).</summary>
    public IReadOnlyList<IWasmModuleSource> Sources { get; init; } = [];
}

/// <summary>
/// The wasm tier: WebAssembly modules with WASI preview 1 on Wasmtime, run inside the daemon (see docs/wasm.md
/// for why, and what it costs). Create resolves and compiles the module (or finds it in the cache) and checks
/// its imports, so a bad module is a 400 before anything exists; Start runs it on a thread of its own.
/// Runs do not survive a daemon restart: Recover reports them Lost.
///
/// An auto-removed instance (<c>strata run --rm</c>) leaves nothing on disk: its spec stays in memory and its
/// output goes to a <see cref="MemoryLog"/> (bounded like the files) that the daemon reads through
/// <see cref="IMemoryLogDriver"/>. Nothing of it could be used after a daemon restart anyway, and it is removed
/// when it ends.
/// </summary>
public sealed partial class WasmDriver : IDriver, ISnapshotDriver, IMemoryLogDriver, IDisposable
{
    private readonly WasmDriverOptions _options;
    private readonly TimeProvider _time;
    private readonly IWasmModuleSource[] _sources;
    private readonly ConcurrentDictionary<string, WasmRun> _runs = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, InstanceSpec> _specs = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, MemoryLog> _memoryLogs = new(StringComparer.Ordinal);
    private readonly WasmThreads _threads = new();
    private readonly Lazy<WasmRuntime> _runtime;
    private readonly ILogger _logger;

    public WasmDriver(WasmDriverOptions options, TimeProvider time, ILogger<WasmDriver>? logger = null)
    {
        _options = options;
        _time = time;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _sources = [.. options.Sources, new FileModuleSource()];
        _runtime = new Lazy<WasmRuntime>(() => new WasmRuntime(options.CacheDirectory, time));
    }

    public Tier Tier => Tier.Wasm;

    public DriverCapabilities Capabilities { get; } = new()
    {
        Isolation = IsolationLevel.Language,
        Snapshots = SnapshotKind.Memory,
        HoldsUntrustedCode = true,
        NeedsImage = true,
        StartLatencyClass = "~1ms",
        SurvivesDaemonRestart = false,
    };

    /// <summary>The engine, its linker and the compile cache (counters for tests and benchmarks).</summary>
    public WasmRuntime Runtime => _runtime.Value;

    /// <summary>OS threads started for runs so far; a finished run's thread is reused by the next.</summary>
    public long ThreadsStarted => _threads.ThreadsStarted;

    /// <summary>Run threads waiting for the next run.</summary>
    public int IdleThreads => _threads.IdleThreads;

    public MemoryLog? FindLog(string instanceId) => _memoryLogs.GetValueOrDefault(instanceId);

    IMemoryLog? IMemoryLogDriver.FindLog(string instanceId) => FindLog(instanceId);

    public Task<DriverFingerprint> FingerprintAsync(CancellationToken cancellationToken)
    {
        try
        {
            var runtime = _runtime.Value;
            return Task.FromResult(new DriverFingerprint(true, "Wasmtime embedded in the daemon, WASI preview 1", $"wasmtime {WasmRuntime.WasmtimeVersion} ({runtime.EngineKey})"));
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or Wasmtime.WasmtimeException)
        {
            return Task.FromResult(DriverFingerprint.Unavailable($"the Wasmtime native library could not be loaded: {e.Message}"));
        }
    }

    /// <summary><c>STRATA_INSTANCE</c> (as on every tier), then the spec's variables.</summary>
    private static Dictionary<string, string> Environment(InstanceSpec spec, DriverHandle handle)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal) { [WorkloadResolver.InstanceVariable] = spec.Name ?? handle.InstanceId };
        foreach (var (k, v) in spec.Env ?? new Dictionary<string, string>())
        {
            env[k] = v;
        }
        return env;
    }

    public async Task<DriverHandle> CreateAsync(CreateRequest request, CancellationToken cancellationToken)
    {
        var spec = request.Spec;
        if (string.IsNullOrEmpty(spec.Image))
        {
            throw StrataException.Invalid("image", "the wasm tier needs a module: a .wasm or .wat file (strata run --tier wasm ./app.wasm)");
        }
        if (spec.Command is { Count: > 0 })
        {
            throw StrataException.Invalid("command", "a wasm module has no entrypoint to override; pass arguments after the module instead");
        }
        if (spec.TimeoutSeconds is { } t && (double.IsNaN(t) || t <= 0))
        {
            throw StrataException.Invalid("timeoutSeconds", $"{t} is not a timeout; give a positive number of seconds");
        }
        if (spec.Tmpfs is { Count: > 0 })
        {
            throw StrataException.Invalid("tmpfs", "a wasm module sees only the directories given with -v (WASI preopens); drop --tmpfs or choose --tier container");
        }
        foreach (var (mount, i) in (spec.Mounts ?? []).Select((m, i) => (m, i)))
        {
            if (!Directory.Exists(mount.Source))
            {
                throw StrataException.Invalid($"mounts[{i}].source", $"{mount.Source} is not a directory on the host; the wasm tier grants directories only");
            }
        }
        var file = await ResolveAsync(spec.Image, cancellationToken).ConfigureAwait(false);
        var module = Runtime.Load(file);
        if (module.UnsupportedImports.Count > 0)
        {
            throw StrataException.Invalid("image",
                $"the module imports {string.Join(", ", module.UnsupportedImports.Take(5))}, which this tier does not provide (only wasi_snapshot_preview1)");
        }
        if (!module.HasStart && !module.IsStepped)
        {
            throw StrataException.Invalid("image", "the module exports neither _start (a WASI command) nor strata_step (a stepped module); nothing to run");
        }
        if (!spec.AutoRemove)
        {
            // The spec lives beside the instance, so Start after a daemon restart needs nothing else. An
            // auto-removed instance cannot outlive the daemon: memory is enough, and no file is written.
            File.WriteAllText(Path.Combine(request.Directory, SpecFile), System.Text.Json.JsonSerializer.Serialize(spec, StrataJsonContext.Default.InstanceSpec));
        }
        else
        {
            _memoryLogs[request.InstanceId] = new MemoryLog(_options.LogMaxBytes, _time);
        }
        _specs[request.InstanceId] = spec;
        LogCreated(request.Name, request.InstanceId, file.Path, module.Digest, module.IsStepped ? "stepped" : "command");
        return new DriverHandle
        {
            InstanceId = request.InstanceId,
            Directory = request.Directory,
            Data = new Dictionary<string, string>
            {
                ["module"] = file.Path,
                ["moduleText"] = file.IsText ? "true" : "false",
                ["digest"] = module.Digest,
                ["kind"] = module.IsStepped ? "stepped" : "command",
                ["engine"] = Runtime.EngineKey,
            },
        };
    }

    private async Task<WasmModuleFile> ResolveAsync(string image, CancellationToken cancellationToken)
    {
        foreach (var source in _sources)
        {
            if (await source.ResolveAsync(image, cancellationToken).ConfigureAwait(false) is { } file)
            {
                return file;
            }
        }
        throw StrataException.Invalid("image", $"'{image}' is neither a .wasm or .wat file (give an absolute path; the CLI makes local paths absolute) nor a Wasm artifact in the image store (strata image ls)");
    }

    public Task<DriverHandle> StartAsync(DriverHandle handle, CancellationToken cancellationToken) => StartRunAsync(handle, null);

    private Task<DriverHandle> StartRunAsync(DriverHandle handle, string? restoreFrom)
    {
        if (_runs.TryGetValue(handle.InstanceId, out var previous) && !previous.Exit.Task.IsCompleted)
        {
            throw StrataException.Conflict("the module is already running");
        }
        var module = ModuleOf(handle);
        var spec = SpecOf(handle);
        if (restoreFrom is not null)
        {
            WasmSnapshot.Read(restoreFrom, module.Digest); // refuse a mismatched snapshot before anything runs
        }
        var run = new WasmRun(Runtime, _threads, module, new WasmLaunch
        {
            InstanceId = handle.InstanceId,
            Directory = handle.Directory,
            Argv0 = Path.GetFileName(handle.Data["module"]),
            Args = spec.Args ?? [],
            Env = Environment(spec, handle),
            Mounts = spec.Mounts ?? [],
            MemoryBytes = spec.Resources?.MemoryBytes,
            Timeout = spec.TimeoutSeconds is { } s ? TimeSpan.FromSeconds(s) : null,
            RestoreFrom = restoreFrom,
        }, FindLog(handle.InstanceId), _options.LogMaxBytes, _time);
        _runs[handle.InstanceId] = run;
        run.Start();
        LogStarted(handle.InstanceId, module.Digest, restoreFrom ?? "no snapshot");
        _ = run.Exit.Task.ContinueWith(t => LogExited(handle.InstanceId, t.Result.ExitCode, t.Result.Reason ?? "exited"),
            CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return Task.FromResult(handle);
    }

    private CompiledModule ModuleOf(DriverHandle handle)
    {
        var digest = handle.Data["digest"];
        if (Runtime.Find(digest) is { } known)
        {
            return known;
        }
        // After a daemon restart the module is loaded again (from the disk cache) and must be the same one.
        var module = Runtime.Load(new WasmModuleFile(handle.Data["module"], handle.Data.GetValueOrDefault("moduleText") == "true"));
        if (module.Digest != digest)
        {
            throw StrataException.Conflict($"the module file {handle.Data["module"]} changed since the instance was created ({digest} → {module.Digest}); create a new instance");
        }
        return module;
    }

    private const string SpecFile = "wasm-spec.json";

    private InstanceSpec SpecOf(DriverHandle handle) =>
        _specs.TryGetValue(handle.InstanceId, out var spec) ? spec
        : _specs[handle.InstanceId] = System.Text.Json.JsonSerializer.Deserialize(File.ReadAllText(Path.Combine(handle.Directory, SpecFile)), StrataJsonContext.Default.InstanceSpec)!;

    public async Task StopAsync(DriverHandle handle, TimeSpan grace, CancellationToken cancellationToken)
    {
        // A module cannot catch a signal: stop ends it at the next epoch tick, the grace period does not apply.
        await KillAsync(handle, 15, cancellationToken).ConfigureAwait(false);
    }

    public Task KillAsync(DriverHandle handle, int signal, CancellationToken cancellationToken)
    {
        if (_runs.TryGetValue(handle.InstanceId, out var run))
        {
            run.Signal(signal);
        }
        return Task.CompletedTask;
    }

    public async Task<ExitStatus> WaitAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        if (!_runs.TryGetValue(handle.InstanceId, out var run))
        {
            return new ExitStatus { ExitCode = -1, Failed = true, Reason = "the module is not running in this daemon", FinishedAt = _time.GetUtcNow() };
        }
        return await run.Exit.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public Task<WorkloadStatus> RecoverAsync(DriverHandle handle, CancellationToken cancellationToken) =>
        Task.FromResult(_runs.TryGetValue(handle.InstanceId, out var run)
            ? run.Exit.Task.IsCompleted ? new WorkloadStatus(WorkloadPhase.Exited, run.Exit.Task.Result) : new WorkloadStatus(WorkloadPhase.Running)
            : new WorkloadStatus(WorkloadPhase.Lost, Reason: "wasm modules run inside the daemon and end with it; start the instance again (or restore a snapshot)"));

    public Task DeleteAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        if (_runs.TryRemove(handle.InstanceId, out var run))
        {
            run.Signal(9);
        }
        _specs.TryRemove(handle.InstanceId, out _);
        _memoryLogs.TryRemove(handle.InstanceId, out _);
        return Task.CompletedTask;
    }

    public Task<SnapshotDetails> SnapshotAsync(DriverHandle handle, string directory, CancellationToken cancellationToken) =>
        CaptureAsync(handle, directory, TimeSpan.Zero, cancellationToken);

    /// <summary>A snapshot; with <paramref name="hold"/> the run waits at the captured step for its stop (a cold move's).</summary>
    private async Task<SnapshotDetails> CaptureAsync(DriverHandle handle, string directory, TimeSpan hold, CancellationToken cancellationToken)
    {
        if (handle.Data.GetValueOrDefault("kind") != "stepped")
        {
            throw StrataException.Conflict("this module is a WASI command (_start): its call stack lives inside the engine and cannot be captured; "
                + "modules that export strata_step can be snapshotted between steps (see docs/wasm.md)");
        }
        if (!_runs.TryGetValue(handle.InstanceId, out var run) || run.Exit.Task.IsCompleted)
        {
            throw StrataException.Conflict("the module is not running: a wasm snapshot captures a running module's memory");
        }
        if (SpecOf(handle).Mounts is { Count: > 0 })
        {
            throw StrataException.Conflict("cannot snapshot a wasm instance with granted host directories (-v): the files it has open are host handles outside its memory and cannot be captured");
        }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        try
        {
            var details = await run.RequestSnapshotAsync(directory, timeout.Token, hold).ConfigureAwait(false);
            LogSnapshotWritten(handle.InstanceId, directory, details.SizeBytes);
            return details;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw StrataException.Conflict("the module did not return from strata_step within 30 s, so no consistent state could be captured");
        }
    }

    public Task<DriverHandle> RestoreAsync(DriverHandle handle, string directory, CancellationToken cancellationToken) =>
        StartRunAsync(handle, directory);

    public void Dispose()
    {
        foreach (var run in _runs.Values)
        {
            run.Signal(9);
        }
        if (_runtime.IsValueCreated)
        {
            // Runs end within one epoch tick; the engine must outlive them.
            Task.WhenAll(_runs.Values.Select(r => r.Exit.Task)).Wait(TimeSpan.FromSeconds(2));
            _runtime.Value.Dispose();
        }
    }
}
