using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Logs;
using Wasmtime;

namespace Strata.Node.Drivers.Wasm;

/// <summary>
/// One execution of a module inside the daemon, on its own thread: a fresh Wasmtime store and instance, WASI
/// with exactly the granted directories, output into the instance's CRI log, a linear-memory limit, and the
/// epoch callback that ends the run on timeout, stop or kill. Nothing the guest does can escape this class
/// as an exception: every ending becomes an <see cref="ExitStatus"/>.
/// </summary>
internal sealed class WasmRun
{
    /// <summary>Exit codes in the style of the other tiers: a trap aborts (SIGABRT), a limit kills.</summary>
    public const int TrapExitCode = 134;
    public const int TimeoutExitCode = 124;
    public const int MemoryLimitExitCode = 137;

    private readonly WasmRuntime _runtime;
    private readonly CompiledModule _module;
    private readonly WasmLaunch _launch;
    private readonly TimeProvider _time;
    private readonly WasmThreads _threads;
    private readonly object _logLock = new();
    private readonly CriLogWriter? _log;
    private readonly MemoryLog? _memoryLog;
    private volatile int _stopSignal;
    private long _deadline = long.MaxValue;
    private SnapshotRequest? _snapshotRequest;

    /// <param name="memoryLog">Where output goes for an instance without log files; null: the CRI log under its directory.</param>
    public WasmRun(WasmRuntime runtime, WasmThreads threads, CompiledModule module, WasmLaunch launch, MemoryLog? memoryLog, long logMaxBytes, TimeProvider time)
    {
        _runtime = runtime;
        _threads = threads;
        _module = module;
        _launch = launch;
        _time = time;
        _memoryLog = memoryLog;
        if (memoryLog is null)
        {
            _log = new CriLogWriter(LogFiles.LogDirectory(launch.Directory), logMaxBytes, time);
        }
    }

    /// <summary>
    /// Completed as the run thread's last act. Continuations (the control plane recording the exit) run right
    /// there rather than being queued to the thread pool: this thread has nothing else to do, and a hop through
    /// a busy pool is the largest delay left in a short run.
    /// </summary>
    public TaskCompletionSource<ExitStatus> Exit { get; } = new();

    /// <summary>CPU time and linear memory of this run, readable from any thread (<see cref="WasmUsage"/>).</summary>
    public WasmUsage Usage { get; } = new();

    /// <summary>The run's linear-memory limit (null: Wasmtime's default).</summary>
    public long? MemoryLimitBytes => _launch.MemoryBytes;

    public void Start()
    {
        if (_launch.Timeout is { } timeout)
        {
            _deadline = _time.GetTimestamp() + (long)(timeout.TotalSeconds * _time.TimestampFrequency);
        }
        _runtime.RunStarted(); // before the run's thread exists, so stop and timeout work from its first instruction
        try
        {
            // A thread of its own (reused from an earlier run when one is waiting), never a thread-pool thread.
            _threads.Run(Run, "wasm run");
        }
        catch
        {
            _runtime.RunEnded();
            throw;
        }
    }

    /// <summary>Ends the run at the next epoch tick (≤ 10 ms of guest code; a guest blocked in a host call ends when it returns).</summary>
    public void Signal(int signal) => Interlocked.CompareExchange(ref _stopSignal, signal, 0);

    /// <summary>
    /// Asks the run loop to capture state at the next step boundary. Only stepped modules get there. With a
    /// <paramref name="hold"/> the run takes no further step after the capture until it is stopped, for at most that
    /// long (a cold move stops it next: a step taken in between would be done twice, here and again from the capture).
    /// </summary>
    public Task<SnapshotDetails> RequestSnapshotAsync(string directory, CancellationToken cancellationToken, TimeSpan hold = default)
    {
        var request = new SnapshotRequest(directory, hold);
        if (Interlocked.CompareExchange(ref _snapshotRequest, request, null) is not null)
        {
            throw StrataException.Conflict("a snapshot of this instance is already being taken; try again when it is done");
        }
        return request.Done.Task.WaitAsync(cancellationToken);
    }

    private void Run()
    {
        ExitStatus status;
        Store? store = null;
        Instance? instance = null;
        Usage.Started();
        try
        {
            store = new Store(_runtime.Engine);
            store.SetWasiConfiguration(WasiConfig());
            store.SetLimits(memorySize: _launch.MemoryBytes);
            store.SetEpochDeadline(1);
            store.SetEpochDeadlineCallback(OnEpoch);
            instance = Instantiate(store);
            Usage.Watch(instance);
            status = _module.IsStepped ? RunSteps(instance) : RunCommand(instance);
        }
        catch (Exception e)
        {
            status = Ended(e, instance);
        }
        finally
        {
            Interlocked.Exchange(ref _snapshotRequest, null)?.Done.TrySetException(
                StrataException.Conflict("the instance ended before the snapshot could be taken"));
            if (_memoryLog is not null)
            {
                _memoryLog.EndOfStream("stdout");
                _memoryLog.EndOfStream("stderr");
            }
            else
            {
                lock (_logLock)
                {
                    _log!.Dispose();
                }
            }
            store?.Dispose();
            _runtime.RunEnded();
        }
        Exit.TrySetResult(status);
    }

    private Instance Instantiate(Store store)
    {
        try
        {
            return _runtime.Linker.Instantiate(store, _module.Module);
        }
        catch (WasmtimeException e) when (e is not TrapException)
        {
            throw new StrataException(ErrorKind.InvalidArgument, InstantiateReason(e));
        }
    }

    private ExitStatus RunCommand(Instance instance)
    {
        var start = instance.GetAction("_start")
            ?? throw StrataException.Invalid("image", "the module exports neither _start (a WASI command) nor strata_step");
        start();
        return Exited(0);
    }

    /// <summary>
    /// Stepped modules: <c>strata_step() -> i32</c> is called until it returns an exit code ≥ 0 (a negative value
    /// means "call me again"). Between two calls no guest frame is live, which is what makes a snapshot exact.
    /// </summary>
    private ExitStatus RunSteps(Instance instance)
    {
        var step = instance.GetFunction<int>(CompiledModule.StepExport)
            ?? throw StrataException.Invalid("image", "strata_step must have the type () -> i32");
        if (_launch.RestoreFrom is { } snapshot)
        {
            WasmSnapshot.Apply(snapshot, _module, instance);
        }
        else if (_module.HasInitialize)
        {
            instance.GetAction("_initialize")!();
        }
        while (true)
        {
            if (Interlocked.Exchange(ref _snapshotRequest, null) is { } request)
            {
                var captured = false;
                try
                {
                    request.Done.TrySetResult(WasmSnapshot.Capture(request.Directory, _module, instance, _launch));
                    captured = true;
                }
                catch (Exception e)
                {
                    request.Done.TrySetException(e);
                }
                if (captured && request.Hold > TimeSpan.Zero)
                {
                    HoldUntilStopped(request.Hold);
                }
            }
            if (_stopSignal != 0)
            {
                return Stopped();
            }
            var code = step();
            if (code >= 0)
            {
                return Exited(code);
            }
        }
    }

    /// <summary>Waits at the captured step for a stop signal, at most <paramref name="hold"/>; then the run goes on.</summary>
    private void HoldUntilStopped(TimeSpan hold)
    {
        var until = Environment.TickCount64 + (long)hold.TotalMilliseconds;
        while (_stopSignal == 0 && Environment.TickCount64 < until)
        {
            Thread.Sleep(1);
        }
    }

    private ulong OnEpoch(Store store)
    {
        Usage.Update();
        if (_stopSignal != 0)
        {
            throw new RunEndedException(null);
        }
        if (_time.GetTimestamp() >= _deadline)
        {
            throw new RunEndedException($"limit: timeout ({_launch.Timeout!.Value.TotalSeconds:0.###} s)");
        }
        return 1;
    }

    private ExitStatus Ended(Exception e, Instance? instance)
    {
        if (e is WasmtimeException { ExitCode: { } code })
        {
            return Exited(code); // proc_exit
        }
        if (FindRunEnded(e) is { } ended)
        {
            return ended.Reason is null ? Stopped() : Failed(TimeoutExitCode, ended.Reason);
        }
        if (e is TrapException trap)
        {
            var reason = "trap: " + TrapText(trap);
            if (MemoryLimitReached(instance))
            {
                return Failed(MemoryLimitExitCode, $"limit: memory ({_launch.MemoryBytes} bytes of linear memory used up; {reason})", oom: true);
            }
            return Failed(TrapExitCode, reason);
        }
        if (e is StrataException se)
        {
            return Failed(1, se.Message);
        }
        return Failed(1, $"wasm: {WasmRuntime.FirstLine(e.Message)}");
    }

    private static RunEndedException? FindRunEnded(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is RunEndedException r)
            {
                return r;
            }
        }
        return null;
    }

    /// <summary>
    /// Wasmtime refuses a memory.grow past the store limit by returning -1; the guest then fails in its own way
    /// (malloc returns NULL, abort traps). A failure with linear memory within 1 MiB of the limit is reported as
    /// the limit; a single huge request refused far below it is not recognisable and shows as the guest's failure.
    /// </summary>
    private bool MemoryLimitReached(Instance? instance)
    {
        if (_launch.MemoryBytes is not { } limit || instance is null)
        {
            return false;
        }
        try
        {
            return instance.GetMemories().Any(m => m.Item2.GetLength() + (1 << 20) > limit);
        }
        catch (WasmtimeException)
        {
            return false;
        }
    }

    private string InstantiateReason(WasmtimeException e)
    {
        var text = WasmRuntime.FirstLine(e.Message);
        if (e.InnerException is not null)
        {
            text += ": " + WasmRuntime.FirstLine(e.InnerException.Message);
        }
        return text.Contains("memory", StringComparison.OrdinalIgnoreCase) && _launch.MemoryBytes is not null
            ? $"limit: memory (the module needs more linear memory at start than the {_launch.MemoryBytes} bytes allowed: {text})"
            : $"cannot instantiate the module: {text}";
    }

    private static string TrapText(TrapException trap) => trap.Type switch
    {
        TrapCode.MemoryOutOfBounds => "out of bounds memory access",
        TrapCode.Unreachable => "unreachable executed",
        TrapCode.IntegerDivisionByZero => "integer divide by zero",
        TrapCode.IntegerOverflow => "integer overflow",
        TrapCode.StackOverflow => "call stack exhausted",
        TrapCode.IndirectCallToNull => "indirect call to null",
        TrapCode.BadSignature => "indirect call type mismatch",
        TrapCode.TableOutOfBounds => "undefined element: out of bounds table access",
        TrapCode.BadConversionToInteger => "invalid conversion to integer",
        _ => WasmRuntime.FirstLine(trap.Message).Replace("wasm trap: ", "", StringComparison.Ordinal),
    };

    private ExitStatus Exited(int code) => new() { ExitCode = code, FinishedAt = _time.GetUtcNow() };

    private ExitStatus Stopped() => new() { ExitCode = 128 + _stopSignal, Reason = $"signal: {_stopSignal}", FinishedAt = _time.GetUtcNow() };

    private ExitStatus Failed(int code, string reason, bool oom = false) =>
        new() { ExitCode = code, Reason = reason, Failed = true, OomKilled = oom, FinishedAt = _time.GetUtcNow() };

    private WasiConfiguration WasiConfig()
    {
        var config = new WasiConfiguration()
            .WithArgs([_launch.Argv0, .. _launch.Args])
            .WithEnvironmentVariables(_launch.Env.Select(kv => (kv.Key, kv.Value)))
            .WithStandardOutputCallback(data => WriteLog("stdout", data))
            .WithStandardErrorCallback(data => WriteLog("stderr", data));
        // Only what was granted: no preopen, no host path. Nothing else of the host filesystem exists for the guest.
        foreach (var mount in _launch.Mounts)
        {
            config = config.WithPreopenedDirectory(mount.Source, mount.Target, mutable: !mount.ReadOnly);
        }
        return config;
    }

    private void WriteLog(string stream, ReadOnlySpan<byte> data)
    {
        if (_memoryLog is not null)
        {
            _memoryLog.Write(stream, data);
            return;
        }
        try
        {
            lock (_logLock)
            {
                _log!.Write(stream, data);
                _log.Flush(); // readers follow the file: make output visible as it is written
            }
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private sealed class RunEndedException(string? reason) : Exception(reason ?? "stopped")
    {
        public string? Reason { get; } = reason;
    }

    private sealed class SnapshotRequest(string directory, TimeSpan hold)
    {
        public string Directory { get; } = directory;

        /// <summary>How long the run stays at the captured step waiting for its stop (zero: it goes on at once).</summary>
        public TimeSpan Hold { get; } = hold;
        public TaskCompletionSource<SnapshotDetails> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}

/// <summary>Everything one run needs from the spec, resolved at create time.</summary>
internal sealed record WasmLaunch
{
    public required string InstanceId { get; init; }
    public required string Directory { get; init; }
    public required string Argv0 { get; init; }
    public IReadOnlyList<string> Args { get; init; } = [];
    public IReadOnlyDictionary<string, string> Env { get; init; } = new Dictionary<string, string>();
    public IReadOnlyList<MountSpec> Mounts { get; init; } = [];
    public long? MemoryBytes { get; init; }
    public TimeSpan? Timeout { get; init; }
    /// <summary>Set for a restore: the snapshot directory whose state replaces the fresh instance's.</summary>
    public string? RestoreFrom { get; init; }
}
