using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Logs;

namespace Strata.Node.Drivers.Fake;

/// <summary>
/// An in-memory tier for fast API and CLI tests. It is a real implementation of the driver contract, but the
/// "workload" is a tiny script read from the argv, and nothing runs on the host:
///   echo WORDS...      writes WORDS to stdout and exits 0
///   fail-start         StartAsync fails
///   fail-create        CreateAsync fails (tests rollback)
///   fail-resize        runs until stopped; every ResizeAsync fails (tests that nothing stays counted)
///   exit N             exits with N
///   sleep [SECONDS]    runs until stopped (143), killed (128+signal) or SECONDS pass (0)
///   use MIB [CORES] [MIB_PER_HOUR]
///                      runs until stopped, reporting MIB of memory (growing by MIB_PER_HOUR of the driver's clock) and
///                      CORES of CPU through stats; above its memory limit it is OOM-killed (137, oom-killed)
/// A script may begin with <c>steps N MS</c>: the create then reports N steps (<c>fake-1</c> … <c>fake-N</c>, "fake step i/N"), waiting
/// MS milliseconds after each (a cancel ends the wait), before the rest of the argv becomes the workload: a slow
/// create with progress, for the operations' tests.
/// Only offered when stratad runs with --enable-fake-tier. It cannot survive a daemon restart (Recover says Lost).
/// </summary>
public sealed partial class FakeDriver : IDriver, IStatsDriver, IResizeDriver
{
    private readonly TimeProvider _time;
    private readonly long _logMaxBytes;
    private readonly ConcurrentDictionary<string, Run> _runs = new();

    public FakeDriver(TimeProvider time, long logMaxBytes = 1024 * 1024)
    {
        _time = time;
        _logMaxBytes = logMaxBytes;
    }

    public Tier Tier => Tier.Fake;

    // Accepts networks and ports (it joins nothing) so tests of the API's network paths can run on it.
    // Resizes its limits in place (the usage sampler's tests apply recommendations through it).
    public DriverCapabilities Capabilities { get; } = new() { Isolation = IsolationLevel.None, StartLatencyClass = "~0ms (fake)", SurvivesDaemonRestart = false, Networks = true, LiveResize = true };

    public Task<DriverFingerprint> FingerprintAsync(CancellationToken cancellationToken) =>
        Task.FromResult(new DriverFingerprint(true, "in-memory fake for tests", "fake"));

    public async Task<DriverHandle> CreateAsync(CreateRequest request, CancellationToken cancellationToken)
    {
        var argv = (IReadOnlyList<string>)[.. request.Spec.Command ?? [], .. request.Spec.Args ?? []];
        if (argv.Count >= 3 && argv[0] == "steps")
        {
            if (!int.TryParse(argv[1], CultureInfo.InvariantCulture, out var count) || count < 1 || !int.TryParse(argv[2], CultureInfo.InvariantCulture, out var pause) || pause < 0)
            {
                throw StrataException.Invalid("args", "the fake tier's 'steps N MS' needs a step count of 1 or more and a pause of 0 or more milliseconds");
            }
            for (var i = 1; i <= count; i++)
            {
                CreateProgress.Report($"fake-{i}", $"fake step {i}/{count}", i, count);
                await Task.Delay(TimeSpan.FromMilliseconds(pause), _time, cancellationToken).ConfigureAwait(false);
            }
            argv = [.. argv.Skip(3)];
        }
        if (argv.Count == 0)
        {
            throw StrataException.Invalid("args", "the fake tier needs a script: echo, exit N, sleep, use, fail-start, fail-create, fail-resize");
        }
        if (argv[0] == "fail-create")
        {
            throw new StrataException(ErrorKind.Internal, "fake create failure (requested by the fail-create script)");
        }
        return new DriverHandle
        {
            InstanceId = request.InstanceId,
            Directory = request.Directory,
            Data = HandleData(request.Spec, argv),
        };
    }

    public Task<DriverHandle> StartAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        var argv = handle.Data["argv"].Split('\u001f');
        if (argv[0] == "fail-start")
        {
            throw new StrataException(ErrorKind.Internal, "fake start failure (requested by the fail-start script)");
        }
        var run = new Run { Usage = FakeUsage.Parse(argv, handle.Data, _time.GetUtcNow()) };
        if (_kept.TryGetValue(handle.InstanceId, out var kept))
        {
            run.Usage.MemoryLimitBytes = kept.MemoryBytes ?? run.Usage.MemoryLimitBytes; // limits a resize kept
            run.Usage.Cpus = kept.Cpus ?? run.Usage.Cpus;
        }
        _runs[handle.InstanceId] = run;
        using (var log = new CriLogWriter(LogFiles.LogDirectory(handle.Directory), _logMaxBytes))
        {
            if (argv[0] == "echo")
            {
                log.Write("stdout", Encoding.UTF8.GetBytes(string.Join(' ', argv.Skip(1)) + "\n"));
            }
        }
        switch (argv[0])
        {
            case "exit":
                run.Finish(int.Parse(argv.ElementAtOrDefault(1) ?? "0", CultureInfo.InvariantCulture), null, _time);
                break;
            case "sleep" when argv.Length > 1:
                var seconds = double.Parse(argv[1], CultureInfo.InvariantCulture);
                _ = Task.Delay(TimeSpan.FromSeconds(seconds), _time).ContinueWith(_ => run.Finish(0, null, _time), TaskScheduler.Default);
                break;
            case "sleep":
            case "use":
            case "fail-resize":
                break;
            default:
                run.Finish(0, null, _time);
                break;
        }
        return Task.FromResult(handle with { Pid = 0, Data = handle.Data });
    }

    public Task StopAsync(DriverHandle handle, TimeSpan grace, CancellationToken cancellationToken) =>
        KillAsync(handle, 15, cancellationToken);

    public Task KillAsync(DriverHandle handle, int signal, CancellationToken cancellationToken)
    {
        if (_runs.TryGetValue(handle.InstanceId, out var run))
        {
            run.Finish(128 + signal, $"signal: {signal}", _time);
        }
        return Task.CompletedTask;
    }

    public async Task<ExitStatus> WaitAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        if (!_runs.TryGetValue(handle.InstanceId, out var run))
        {
            return new ExitStatus { ExitCode = -1, Failed = true, Reason = "fake workload unknown", FinishedAt = _time.GetUtcNow() };
        }
        return await run.Exit.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public Task<WorkloadStatus> RecoverAsync(DriverHandle handle, CancellationToken cancellationToken) =>
        Task.FromResult(_runs.TryGetValue(handle.InstanceId, out var run)
            ? run.Exit.Task.IsCompleted ? new WorkloadStatus(WorkloadPhase.Exited, run.Exit.Task.Result) : new WorkloadStatus(WorkloadPhase.Running)
            : new WorkloadStatus(WorkloadPhase.Lost, Reason: "the fake tier keeps nothing across daemon restarts"));

    public Task DeleteAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        _runs.TryRemove(handle.InstanceId, out _);
        _kept.TryRemove(handle.InstanceId, out _);
        return Task.CompletedTask;
    }

    private sealed class Run
    {
        public TaskCompletionSource<ExitStatus> Exit { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>What the <c>use</c> script reports (zero for the other scripts).</summary>
        public required FakeUsage Usage { get; init; }

        public void Finish(int code, string? reason, TimeProvider time) =>
            Exit.TrySetResult(new ExitStatus { ExitCode = code, Reason = reason, FinishedAt = time.GetUtcNow() });
    }
}
