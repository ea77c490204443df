using System.Diagnostics;
using System.Text.Json;
using Strata.Contracts;
using Strata.Testing;

namespace Strata.Daemon.Tests;

/// <summary>
/// The installed binaries as a user runs them: the NativeAOT <c>strata</c> CLI against a real <c>stratad</c>
/// process (published by scripts/publish-native.sh), on the process tier.
/// </summary>
[Collection("end-to-end")]
public sealed class EndToEndTests : IAsyncLifetime
{
    private readonly TempDirectory _dir = new("strata-e2e");
    private Process? _daemon;

    private string Root => _dir.Combine("root");
    private string Socket => _dir.Combine("s.sock");
    private static string Cli => PublishedCli.Path;
    private static string Stratad => Path.Combine(TestEnvironment.ArtifactsBin, "stratad");

    public async Task InitializeAsync()
    {
        if (File.Exists(Cli) && File.Exists(Stratad))
        {
            await StartDaemonAsync();
        }
    }

    private void RequireBinaries() =>
        TestEnvironment.Require(File.Exists(Cli) && File.Exists(Stratad), $"{Cli} and {Stratad} are missing; run scripts/publish-native.sh");

    private async Task StartDaemonAsync(params string[] extra) =>
        // Started from the directory its root is in, as `cd /var/lib/strata && stratad` would be.
        _daemon = await PublishedDaemon.StartAsync(Socket, ["--root", Root, "--socket", Socket, "--log-max-size", "1M", .. extra],
            workingDirectory: _dir.Path);

    private (int ExitCode, string Stdout, string Stderr) RunCli(params string[] args) => PublishedCli.Run(Socket, TimeSpan.FromSeconds(120), args);

    private InstanceInfo Inspect(string name)
    {
        var (code, stdout, stderr) = RunCli("inspect", "--json", name);
        Assert.True(code == 0, stderr);
        return JsonSerializer.Deserialize(stdout, StrataJsonContext.Default.InstanceInfo)!;
    }

    [SkippableFact]
    public void Run_ProcessTier_PrintsAndExitsWithTheWorkloadsCode()
    {
        RequireBinaries();
        var (code, stdout, stderr) = RunCli("run", "--tier", "process", "--", "sh", "-c", "echo hi; echo oops >&2; exit 3");
        Assert.Equal(3, code);
        Assert.Equal("hi\n", stdout);
        Assert.Equal("oops\n", stderr);
    }

    [SkippableFact]
    public void Create_ThenStart_RunsTheCommandGivenAfterTheSeparator()
    {
        RequireBinaries();
        var (code, stdout, stderr) = RunCli("create", "--name", "later", "--tier", "process", "--", "sh", "-c", "echo created-then-started; exit 6");
        Assert.True(code == 0, stderr);
        Assert.Equal("later\n", stdout);
        Assert.Contains("\"state\":\"created\"", RunCli("inspect", "--json", "later").Stdout.Replace(" ", ""));

        Assert.Equal(0, RunCli("start", "later").ExitCode);
        Assert.Equal("6", RunCli("wait", "later").Stdout.Trim());
        Assert.Equal("created-then-started\n", RunCli("logs", "later").Stdout);
        Assert.Equal(0, RunCli("rm", "later").ExitCode);
    }

    [SkippableFact]
    public void Run_GlobalOptionsBeforeTheVerb_AreHonoured()
    {
        RequireBinaries();
        var psi = new ProcessStartInfo(Cli, ["--socket", Socket, "run", "--tier", "process", "--", "sh", "-c", "echo via-flag; exit 4"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.Environment["STRATA_SOCKET"] = _dir.Combine("not-this-one.sock");
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.Equal(4, p.ExitCode);
        Assert.Equal("via-flag\n", stdout);
    }

    [SkippableFact]
    public void Run_BadInput_FailsWithAMessageNamingTheProblem()
    {
        RequireBinaries();
        var (code, _, stderr) = RunCli("run", "--tier", "mainframe", "--", "true");
        Assert.Equal(125, code);
        Assert.Contains("tier", stderr, StringComparison.Ordinal);

        (code, _, stderr) = RunCli("run", "--tier", "process", "--memory=-5M", "--", "true");
        Assert.Equal(125, code);
        Assert.Contains("memoryBytes", stderr, StringComparison.Ordinal);

        (code, _, stderr) = RunCli("run", "--tier", "process", "--name", "a/b", "--", "true");
        Assert.Equal(125, code);
        Assert.Contains("name", stderr, StringComparison.Ordinal);

        Assert.Equal("", RunCli("ps", "-a", "-q").Stdout);
    }

    [SkippableFact]
    public void Cli_DaemonNotRunning_SaysHowToStartIt()
    {
        RequireBinaries();
        var psi = new ProcessStartInfo(Cli, ["ps"]) { RedirectStandardError = true, RedirectStandardOutput = true };
        psi.Environment["STRATA_SOCKET"] = _dir.Combine("nobody-here.sock");
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.Equal(1, p.ExitCode);
        Assert.Contains("strata daemon", err, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Daemon_WatchesNoFiles_NotEvenUnderItsWorkingDirectory()
    {
        RequireBinaries();
        // Its working directory holds its root: a watcher there would get an event for every file an instance writes
        // (and from / it would watch the whole machine). The host's appsettings.json watch must be off.
        Assert.Equal(0, RunCli("run", "--tier", "process", "--", "true").ExitCode);
        var watchers = Directory.GetFiles($"/proc/{_daemon!.Id}/fd")
            .Count(fd => new FileInfo(fd).LinkTarget == "anon_inode:inotify");
        Assert.Equal(0, watchers);
    }

    [SkippableFact]
    public async Task DaemonKilled_WorkloadsKeepRunning_AndAreReattachedWithTheSamePid()
    {
        RequireBinaries();
        Assert.Equal(0, RunCli("run", "-d", "--name", "web", "--tier", "process", "--", "sleep", "1000").ExitCode);
        Assert.Equal(0, RunCli("run", "-d", "--name", "short", "--tier", "process", "--", "sh", "-c", "sleep 1; exit 7").ExitCode);
        var web = Inspect("web");
        var shortPid = Inspect("short").Pid!.Value;
        Assert.Equal("running", web.State);

        _daemon!.Kill(); // SIGKILL
        await _daemon.WaitForExitAsync();
        Assert.True(Directory.Exists($"/proc/{web.Pid}"), "the workload must outlive the daemon");
        Assert.True(await TestEnvironment.EventuallyAsync(() => !Directory.Exists($"/proc/{shortPid}"), TimeSpan.FromSeconds(20)),
            "the short workload should end while the daemon is down");

        await StartDaemonAsync();
        var again = Inspect("web");
        Assert.Equal("running", again.State);
        Assert.Equal(web.Pid, again.Pid);
        Assert.Equal(0, again.RestartCount);
        var ended = Inspect("short");
        Assert.Equal("exited", ended.State);
        Assert.Equal(7, ended.ExitCode);

        Assert.Equal(0, RunCli("stop", "-t", "2", "web").ExitCode);
        var stopped = Inspect("web");
        Assert.Equal("stopped", stopped.State);
        Assert.False(Directory.Exists($"/proc/{web.Pid}") && File.ReadAllText($"/proc/{web.Pid}/stat").Split(' ')[2] != "Z");
    }

    [SkippableFact]
    public async Task LogFlood_200MB_StaysWithinTheCap_AndDaemonMemoryStaysFlat()
    {
        RequireBinaries();
        // Warm the daemon up so its baseline includes JIT and first-request costs.
        RunCli("run", "--rm", "--tier", "process", "--", "true");
        var before = TestEnvironment.RssAnonBytes(_daemon!.Id);
        var (code, _, stderr) = RunCli("run", "-d", "--name", "flood", "--tier", "process", "--",
            "sh", "-c", "yes 0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456 | head -c 200000000");
        Assert.True(code == 0, stderr);
        Assert.Equal("0", RunCli("wait", "flood").Stdout.Trim());

        var logDir = Path.Combine(Root, "instances", Inspect("flood").Id, "logs");
        var total = Directory.GetFiles(logDir).Sum(f => new FileInfo(f).Length);
        Assert.InRange(total, 1, (2 * 1024 * 1024) + (64 * 1024)); // two files of at most 1 MiB each, plus one record
        var tail = RunCli("logs", "--tail", "3", "flood");
        Assert.Equal(3, tail.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);

        await Task.Yield();
        var after = TestEnvironment.RssAnonBytes(_daemon.Id);
        Assert.True(after - before < 32L * 1024 * 1024, $"daemon private memory grew by {(after - before) / 1024 / 1024} MiB");
    }

    [SkippableFact]
    public void PsJson_AndTables_ListInstances()
    {
        RequireBinaries();
        Assert.Equal(0, RunCli("run", "--name", "listed", "--tier", "process", "--", "true").ExitCode);
        var (code, stdout, _) = RunCli("ps", "-a", "--json");
        Assert.Equal(0, code);
        var list = JsonSerializer.Deserialize(stdout, StrataJsonContext.Default.InstanceList)!;
        Assert.Contains(list.Items, i => i.Name == "listed" && i.State == "exited" && i.ExitCode == 0);
        var table = RunCli("ps", "-a").Stdout;
        Assert.Contains("NAME", table, StringComparison.Ordinal);
        Assert.Contains("listed", table, StringComparison.Ordinal);
        Assert.Equal(0, RunCli("rm", "listed").ExitCode);
        Assert.Equal(1, RunCli("inspect", "listed").ExitCode);
    }

    public async Task DisposeAsync()
    {
        if (_daemon is { HasExited: false })
        {
            RunCli("daemon", "stop", "--all");
            if (!_daemon.WaitForExit(TimeSpan.FromSeconds(20)))
            {
                _daemon.Kill();
            }
        }
        await Task.CompletedTask;
        _dir.Dispose();
    }
}
