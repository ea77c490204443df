using System.Diagnostics;
using System.Text.Json;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Logs;
using Strata.Node.Supervision;
using Xunit.Abstractions;

namespace Strata.Node.Tests.Supervision;

/// <summary>End-to-end tests of the real NativeAOT strata-supervisor (scripts/publish-native.sh builds it).</summary>
public sealed class SupervisorTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);
    private readonly TempDir _dir = new();
    private readonly ExitWatcher _watcher = new();
    private readonly List<int> _groupsToKill = [];

    public void Dispose()
    {
        foreach (var group in _groupsToKill)
        {
            Signals.SendToGroup(group, Signals.SIGKILL);
        }
        _watcher.Dispose();
        _dir.Dispose();
    }

    private static string SupervisorPath => TestPaths.Supervisor
        ?? throw new InvalidOperationException("strata-supervisor is missing (CI=true): run scripts/publish-native.sh before the tests");

    private string LogDir => LogFiles.LogDirectory(_dir.Path);

    private string ExitPath => Path.Combine(_dir.Path, "exit.json");

    private SupervisorConfig Config(params string[] argv) => new()
    {
        Argv = argv,
        Env = new Dictionary<string, string> { ["PATH"] = "/usr/local/bin:/usr/bin:/bin" },
        LogDirectory = LogDir,
        ExitFile = ExitPath,
    };

    private async Task<SupervisedProcess> StartAsync(SupervisorConfig config)
    {
        var started = await new SupervisorLauncher(SupervisorPath).StartAsync(_dir.Path, config, CancellationToken.None);
        _groupsToKill.Add(started.Pid);
        return started;
    }

    /// <summary>Waits for the supervisor to finish and returns the exit file it wrote.</summary>
    private async Task<ExitStatus> WaitForExitAsync(SupervisedProcess started)
    {
        await _watcher.WaitForExitAsync(started.SupervisorPid, started.SupervisorStartTicks, CancellationToken.None).WaitAsync(s_timeout);
        return ExitFile.TryRead(ExitPath) ?? throw new Xunit.Sdk.XunitException("the supervisor ended without an exit file");
    }

    private async Task<(ExitStatus Exit, IReadOnlyList<LogRecord> Log)> RunAsync(SupervisorConfig config)
    {
        var exit = await WaitForExitAsync(await StartAsync(config));
        return (exit, CriLogReader.ReadTail(LogDir, null));
    }

    private static string Reconstruct(IEnumerable<LogRecord> records, string stream) =>
        string.Concat(records.Where(r => r.Stream == stream).Select(r => r.Text + (r.Partial ? "" : "\n")));

    [SupervisorFact]
    public async Task Run_ExitCodeAndStreams_Recorded()
    {
        var before = DateTimeOffset.UtcNow;

        var (exit, log) = await RunAsync(Config("sh", "-c", "echo hi; echo err >&2; exit 3"));

        Assert.Equal(3, exit.ExitCode);
        Assert.Null(exit.Reason);
        Assert.False(exit.Failed);
        Assert.False(exit.OomKilled);
        Assert.InRange(exit.FinishedAt, before.AddSeconds(-1), DateTimeOffset.UtcNow.AddSeconds(1));
        Assert.Contains(log, r => r is { Stream: "stdout", Text: "hi", Partial: false });
        Assert.Contains(log, r => r is { Stream: "stderr", Text: "err", Partial: false });
        Assert.Equal(2, log.Count);
    }

    [SupervisorFact]
    public async Task Run_KilledBySignal_128PlusSignalAndReason()
    {
        var (exit, _) = await RunAsync(Config("sh", "-c", "kill -9 $$"));

        Assert.Equal(137, exit.ExitCode);
        Assert.Equal("signal: SIGKILL", exit.Reason);
    }

    [SupervisorFact]
    public async Task Run_PartialLastLine_ExactReconstruction()
    {
        var (exit, log) = await RunAsync(Config("printf", "a\\nb"));

        Assert.Equal(0, exit.ExitCode);
        Assert.Equal([("a", false), ("b", true)], log.Select(r => (r.Text, r.Partial)));
        Assert.Equal("a\nb", Reconstruct(log, "stdout"));
    }

    [SupervisorFact]
    public async Task Run_EnvironmentAndWorkingDir_ExactlyAsConfigured()
    {
        var workDir = Directory.CreateDirectory(Path.Combine(_dir.Path, "work dir")).FullName;
        var config = Config("env") with
        {
            Env = new Dictionary<string, string> { ["PATH"] = "/usr/bin:/bin", ["GREETING"] = "hello world" },
            WorkingDir = workDir,
        };

        var (_, log) = await RunAsync(config);
        var (_, pwdLog) = await RunAsync(config with { Argv = ["sh", "-c", "pwd; grep SigIgn /proc/self/status"] });

        // Nothing of the daemon's (or the runtime's) environment leaks into the workload.
        Assert.Equal(["GREETING=hello world", "PATH=/usr/bin:/bin"], log.Select(r => r.Text).Order(StringComparer.Ordinal));
        Assert.Equal(workDir, pwdLog[^2].Text);
        // No signal stays ignored: the runtime's SIG_IGN for SIGPIPE must not reach the workload.
        Assert.Equal("SigIgn:\t0000000000000000", pwdLog[^1].Text);
    }

    [SupervisorFact]
    public async Task Run_CommandNotFound_ThrowsInvalidArgumentAndRecordsFailedExit()
    {
        var e = await Assert.ThrowsAsync<StrataException>(() => StartAsync(Config("/nonexistent/strata-test-cmd")));

        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.Contains("exec: /nonexistent/strata-test-cmd: No such file or directory", e.Message);
        var exit = ExitFile.TryRead(ExitPath);
        Assert.NotNull(exit);
        Assert.True(exit.Failed);
        Assert.Equal(127, exit.ExitCode);
        Assert.Equal("exec: /nonexistent/strata-test-cmd: No such file or directory", exit.Reason);
        Assert.Contains(CriLogReader.ReadTail(LogDir, null), r => r.Stream == "stderr" && r.Text.Contains("No such file or directory", StringComparison.Ordinal));
    }

    [SupervisorFact]
    public async Task Run_NotExecutable_126()
    {
        var file = Path.Combine(_dir.Path, "not-executable");
        await File.WriteAllTextAsync(file, "#!/bin/sh\necho never\n");

        var e = await Assert.ThrowsAsync<StrataException>(() => StartAsync(Config(file)));

        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.Equal(126, ExitFile.TryRead(ExitPath)!.ExitCode);
        Assert.Contains("Permission denied", ExitFile.TryRead(ExitPath)!.Reason, StringComparison.Ordinal);
    }

    [SupervisorFact]
    public async Task Run_MissingWorkingDir_ReportsChdir()
    {
        var e = await Assert.ThrowsAsync<StrataException>(() => StartAsync(Config("true") with { WorkingDir = "/nonexistent-strata-dir" }));

        Assert.Contains("chdir: /nonexistent-strata-dir: No such file or directory", e.Message);
        Assert.True(ExitFile.TryRead(ExitPath)!.Failed);
    }

    [SupervisorFact]
    public async Task Run_CgroupProcsFiles_WorkloadPidWrittenBeforeExec()
    {
        // A plain file stands in for cgroup.procs: what matters here is that the pid that later execs is written first.
        var procs = Path.Combine(_dir.Path, "cgroup.procs");
        await File.WriteAllTextAsync(procs, "");

        var started = await StartAsync(Config("sleep", "30") with { CgroupProcsFiles = [procs] });

        Assert.Equal(started.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture), (await File.ReadAllTextAsync(procs)).Trim());
        Signals.SendToGroup(started.Pid, Signals.SIGKILL);
        Assert.Equal(137, (await WaitForExitAsync(started)).ExitCode);
    }

    [SupervisorFact]
    public async Task Run_CgroupJoinFails_ExecNeverHappens()
    {
        var e = await Assert.ThrowsAsync<StrataException>(() => StartAsync(Config("true") with { CgroupProcsFiles = ["/nonexistent-cgroup/cgroup.procs"] }));

        Assert.Contains("cgroup", e.Message, StringComparison.Ordinal);
        Assert.Equal(126, ExitFile.TryRead(ExitPath)!.ExitCode);
    }

    [SupervisorFact]
    public async Task Run_MemoryCgroupReportsOomKill_ExitMarkedOomKilled()
    {
        // The OOM hook reads the cgroup's own counter; a directory with a memory.events file of that shape stands in.
        var cgroup = Directory.CreateDirectory(Path.Combine(_dir.Path, "memcg")).FullName;
        await File.WriteAllTextAsync(Path.Combine(cgroup, "memory.events"), "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n");

        var (exit, _) = await RunAsync(Config("sh", "-c", "kill -9 $$") with { MemoryCgroup = cgroup });

        Assert.True(exit.OomKilled);
        Assert.Equal("oom-killed", exit.Reason);
        Assert.Equal(137, exit.ExitCode);
    }

    [SupervisorFact]
    public async Task Run_WorkloadLeadsOwnProcessGroupInSupervisorsSession()
    {
        var started = await StartAsync(Config("sleep", "30"));

        var workload = Stat(started.Pid);
        var supervisor = Stat(started.SupervisorPid);
        Assert.Equal(started.Pid, workload.Pgid);
        Assert.Equal(started.SupervisorPid, supervisor.Sid); // setsid: the supervisor leads its own session
        Assert.Equal(supervisor.Sid, workload.Sid);
        Assert.True(ProcessIdentity.IsAlive(started.Pid, started.PidStartTicks));
        Assert.True(ProcessIdentity.IsAlive(started.SupervisorPid, started.SupervisorStartTicks));

        Assert.True(Signals.SendToGroup(started.Pid, Signals.SIGKILL));
        var exit = await WaitForExitAsync(started);
        Assert.Equal(137, exit.ExitCode);
        Assert.Equal("signal: SIGKILL", exit.Reason);
    }

    [SupervisorFact]
    public async Task Run_SupervisorGetsSigterm_ForwardedToWorkloadAndRecorded()
    {
        var started = await StartAsync(Config("sleep", "30"));

        Assert.True(Signals.Send(started.SupervisorPid, Signals.SIGTERM));

        var exit = await WaitForExitAsync(started);
        Assert.Equal(143, exit.ExitCode);
        Assert.Equal("signal: SIGTERM", exit.Reason);
    }

    [SupervisorFact]
    public async Task Run_WorkloadExitsLeavingChildren_ChildrenKilled()
    {
        var (exit, log) = await RunAsync(Config("sh", "-c", "sleep 300 & echo $!; exit 0"));

        Assert.Equal(0, exit.ExitCode);
        var leftover = int.Parse(log.Single().Text, System.Globalization.CultureInfo.InvariantCulture);
        await Eventually.TrueAsync(() => ProcessIdentity.TryGetStartTicks(leftover) is not { } t || !ProcessIdentity.IsAlive(leftover, t),
            "the leftover sleep is killed");
    }

    [SupervisorFact]
    public async Task Run_ParentKilled_SupervisorAndWorkloadSurviveAndStillRecordExit()
    {
        // The supervisor's parent plays the daemon: it starts the supervisor and is then killed with SIGKILL.
        var config = Config("sleep", "300");
        var configPath = Path.Combine(_dir.Path, "supervisor.json");
        await File.WriteAllBytesAsync(configPath, JsonSerializer.SerializeToUtf8Bytes(new
        {
            argv = config.Argv,
            env = config.Env,
            logDirectory = config.LogDirectory,
            exitFile = config.ExitFile,
        }));
        var handshakePath = Path.Combine(_dir.Path, "handshake");
        var pidPath = Path.Combine(_dir.Path, "supervisor-pid");
        using var parent = Process.Start(new ProcessStartInfo("sh")
        {
            ArgumentList = { "-c", "\"$0\" run \"$1\" > \"$2\" & echo $! > \"$3\"; exec sleep 300", SupervisorPath, configPath, handshakePath, pidPath },
        })!;
        await Eventually.TrueAsync(() => File.Exists(handshakePath) && File.ReadAllText(handshakePath).EndsWith('\n'), "the handshake line");
        using var handshake = JsonDocument.Parse(await File.ReadAllTextAsync(handshakePath));
        Assert.True(handshake.RootElement.GetProperty("ok").GetBoolean());
        var pid = handshake.RootElement.GetProperty("pid").GetInt32();
        var pidTicks = handshake.RootElement.GetProperty("pidStartTicks").GetInt64();
        _groupsToKill.Add(pid);
        var supervisorPid = int.Parse((await File.ReadAllTextAsync(pidPath)).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        var supervisorTicks = ProcessIdentity.TryGetStartTicks(supervisorPid)!.Value;
        Assert.Equal(parent.Id, Stat(supervisorPid).Ppid);

        parent.Kill();
        await parent.WaitForExitAsync();

        await Eventually.TrueAsync(() => Stat(supervisorPid).Ppid != parent.Id, "the supervisor is re-parented");
        Assert.True(ProcessIdentity.IsAlive(supervisorPid, supervisorTicks));
        Assert.True(ProcessIdentity.IsAlive(pid, pidTicks));
        Assert.Null(ExitFile.TryRead(ExitPath));

        // The supervisor is not our child now: only the pidfd-based watcher can see it end.
        var supervisorGone = _watcher.WaitForExitAsync(supervisorPid, supervisorTicks, CancellationToken.None);
        var workloadGone = _watcher.WaitForExitAsync(pid, pidTicks, CancellationToken.None);
        Assert.False(supervisorGone.IsCompleted);
        Assert.True(Signals.SendToGroup(pid, Signals.SIGKILL));
        await Task.WhenAll(supervisorGone, workloadGone).WaitAsync(s_timeout);

        var exit = ExitFile.TryRead(ExitPath);
        Assert.NotNull(exit);
        Assert.Equal(137, exit.ExitCode);
        Assert.False(ProcessIdentity.IsAlive(pid, pidTicks));
    }

    [SupervisorFact]
    public async Task Run_FloodOfOutput_LogsRotatedAndBounded()
    {
        const long max = 1024 * 1024;
        const int lines = 1_250_000; // 41 bytes each: ~51 MB of output
        var stopwatch = Stopwatch.StartNew();

        var (exit, _) = await RunAsync(Config("sh", "-c", $"yes 0123456789012345678901234567890123456789 | head -n {lines}; echo LAST-LINE") with { LogMaxBytes = max });

        stopwatch.Stop();
        output.WriteLine($"copied {lines * 41 / 1e6:0.0} MB of output in {stopwatch.Elapsed.TotalSeconds:0.00} s ({lines * 41 / 1e6 / stopwatch.Elapsed.TotalSeconds:0} MB/s)");
        Assert.Equal(0, exit.ExitCode);
        var files = Directory.GetFiles(LogDir);
        Assert.Equal(["current.log", "current.log.1"], files.Select(Path.GetFileName).Order(StringComparer.Ordinal));
        var total = files.Sum(f => new FileInfo(f).Length);
        Assert.InRange(total, max, 2 * max + CriLogWriter.MaxLineBytes + 64);
        var tail = CriLogReader.ReadTail(LogDir, 3);
        Assert.Equal(["0123456789012345678901234567890123456789", "0123456789012345678901234567890123456789", "LAST-LINE"], tail.Select(r => r.Text));
    }

    [SupervisorFact]
    public async Task FollowAsync_RunningWorkload_SeesLinesAsWrittenAndEndsWhenExited()
    {
        var started = await StartAsync(Config("sh", "-c", "for i in 1 2 3 4 5; do echo line$i; sleep 0.05; done; printf tail"));
        var seen = new List<string>();

        await foreach (var record in CriLogReader.FollowAsync(LogDir, null, () => File.Exists(ExitPath), CancellationToken.None).WithCancellation(new CancellationTokenSource(s_timeout).Token))
        {
            seen.Add(record.Text + (record.Partial ? "" : "\\n"));
        }

        Assert.Equal(["line1\\n", "line2\\n", "line3\\n", "line4\\n", "line5\\n", "tail"], seen);
        Assert.Equal(0, (await WaitForExitAsync(started)).ExitCode);
    }

    [SupervisorFact]
    public async Task Supervisor_WhileSupervisingSleep_PrivateMemoryAtMost2MiB()
    {
        var started = await StartAsync(Config("sleep", "300"));
        await Task.Delay(200); // let it settle into its poll loop; nothing to wait on

        var status = File.ReadAllLines($"/proc/{started.SupervisorPid}/status");
        var rollup = File.ReadAllLines($"/proc/{started.SupervisorPid}/smaps_rollup");
        long Kb(string[] lines, string key) => long.Parse(lines.Single(l => l.StartsWith(key + ":", StringComparison.Ordinal)).Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);
        var rssAnon = Kb(status, "RssAnon");
        var pssAnon = Kb(rollup, "Pss_Anon");
        output.WriteLine($"supervisor RssAnon {rssAnon} kB, Pss_Anon {pssAnon} kB, VmRSS {Kb(status, "VmRSS")} kB, Pss {Kb(rollup, "Pss")} kB, threads {Kb(status, "Threads")}");

        Assert.InRange(rssAnon, 1, 2048);
        Assert.InRange(pssAnon, 1, 2048);
    }

    /// <summary>Polls until the launcher has a live spare (it is started in the background after a handshake).</summary>
    private static async Task<int> SpareAsync(SupervisorLauncher launcher)
    {
        var deadline = DateTime.UtcNow + s_timeout;
        int? pid;
        while ((pid = launcher.SparePid) is null)
        {
            Assert.True(DateTime.UtcNow < deadline, "no standby supervisor appeared");
            await Task.Delay(10);
        }
        return pid.Value;
    }

    [SupervisorFact]
    public async Task KeepSpare_NextStart_UsesTheStandbySupervisorAndRunsTheWorkload()
    {
        using var launcher = new SupervisorLauncher(SupervisorPath) { KeepSpare = true };
        launcher.PrepareSpare();
        var spare = await SpareAsync(launcher);
        Assert.Contains("standby", File.ReadAllText($"/proc/{spare}/cmdline").Split('\0'));

        // The workload waits for the test's go-ahead, so the supervisor is still there to be looked at (a workload that
        // exits at once can take its supervisor with it before /proc is read).
        var go = Path.Combine(_dir.Path, "go");
        var started = await launcher.StartAsync(_dir.Path,
            Config("sh", "-c", $"echo from-spare; while [ ! -e '{go}' ]; do sleep 0.05; done; exit 4"), CancellationToken.None);
        _groupsToKill.Add(started.Pid);

        Assert.Equal(spare, started.SupervisorPid);
        // The spare became a real supervisor: its own session, the workload's exit and output recorded as usual.
        Assert.Equal(spare, Stat(spare).Sid);
        File.WriteAllText(go, "");
        var exit = await WaitForExitAsync(started);
        Assert.Equal(4, exit.ExitCode);
        Assert.Contains(CriLogReader.ReadTail(LogDir, null), r => r is { Stream: "stdout", Text: "from-spare" });
        // ... and a new spare waits for the run after it.
        var next = await SpareAsync(launcher);
        Assert.NotEqual(spare, next);
    }

    [SupervisorFact]
    public async Task KeepSpare_SpareKilled_StartFallsBackToAFreshSupervisor()
    {
        using var launcher = new SupervisorLauncher(SupervisorPath) { KeepSpare = true };
        launcher.PrepareSpare();
        var spare = await SpareAsync(launcher);
        using (var p = Process.GetProcessById(spare))
        {
            p.Kill();
            await p.WaitForExitAsync().WaitAsync(s_timeout);
        }

        var started = await launcher.StartAsync(_dir.Path, Config("sh", "-c", "exit 6"), CancellationToken.None);
        _groupsToKill.Add(started.Pid);

        Assert.NotEqual(spare, started.SupervisorPid);
        Assert.Equal(6, (await WaitForExitAsync(started)).ExitCode);
    }

    [SupervisorFact]
    public async Task KeepSpare_Dispose_EndsTheSpareWithoutATrace()
    {
        int spare;
        using (var launcher = new SupervisorLauncher(SupervisorPath) { KeepSpare = true })
        {
            launcher.PrepareSpare();
            spare = await SpareAsync(launcher);
        }
        await GoneAsync(spare, "the standby supervisor outlived its launcher");
        Assert.False(File.Exists(ExitPath), "a spare that never got a config must not write anything");
    }

    [SupervisorFact]
    public async Task KeepSpare_SpareGetsSigtermBeforeAConfig_EndsWithoutATrace()
    {
        using var launcher = new SupervisorLauncher(SupervisorPath) { KeepSpare = true };
        launcher.PrepareSpare();
        var spare = await SpareAsync(launcher);
        // The spare registers its signal handlers ahead of time (warm-up); until it has a config they must not
        // keep it alive, or `kill` would no longer end an idle spare.
        await Task.Delay(100);

        Assert.True(Signals.Send(spare, Signals.SIGTERM));

        await GoneAsync(spare, "an idle standby supervisor ignored SIGTERM");
        Assert.False(File.Exists(ExitPath));
    }

    [SupervisorFact]
    public async Task KeepSpare_SupervisorFromTheSpareGetsSigterm_ForwardedToWorkloadAndRecorded()
    {
        using var launcher = new SupervisorLauncher(SupervisorPath) { KeepSpare = true };
        launcher.PrepareSpare();
        var spare = await SpareAsync(launcher);
        var started = await launcher.StartAsync(_dir.Path, Config("sleep", "30"), CancellationToken.None);
        _groupsToKill.Add(started.Pid);
        Assert.Equal(spare, started.SupervisorPid);

        Assert.True(Signals.Send(started.SupervisorPid, Signals.SIGTERM));

        var exit = await WaitForExitAsync(started);
        Assert.Equal(143, exit.ExitCode);
        Assert.Equal("signal: SIGTERM", exit.Reason);
    }

    /// <summary>Polls until <paramref name="pid"/> has exited (gone, or a zombie its parent has not reaped yet).</summary>
    private static async Task GoneAsync(int pid, string failure)
    {
        var deadline = DateTime.UtcNow + s_timeout;
        while (Directory.Exists($"/proc/{pid}") && !File.ReadAllText($"/proc/{pid}/stat").Contains(") Z ", StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline, failure);
            await Task.Delay(10);
        }
    }

    private static (int Ppid, int Pgid, int Sid) Stat(int pid)
    {
        var text = File.ReadAllText($"/proc/{pid}/stat");
        var fields = text[(text.LastIndexOf(')') + 2)..].Split(' ');
        int F(int n) => int.Parse(fields[n - 3], System.Globalization.CultureInfo.InvariantCulture);
        return (F(4), F(5), F(6));
    }
}
