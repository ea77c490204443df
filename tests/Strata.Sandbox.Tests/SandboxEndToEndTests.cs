using System.Diagnostics;
using Strata.Testing;

namespace Strata.Sandbox.Tests;

/// <summary>
/// The sandbox tier through the published stratad and strata binaries: the acceptance run, exec, and
/// `kill -9` of the daemon leaving the sandbox running and reattached.
/// </summary>
public sealed class SandboxEndToEndTests : IDisposable
{
    private readonly TempDirectory _temp = new("strata-sbe2e");
    private Process? _daemon;

    private string Socket => _temp.Combine("s.sock");

    private async Task StartDaemonAsync() =>
        _daemon = await PublishedDaemon.StartAsync(Socket,
            ["--root", _temp.Combine("root"), "--socket", Socket, "--supervisor", SandboxTestHost.Supervisor!],
            new Dictionary<string, string> { ["STRATA_SANDBOX_ACCEL"] = "tcg" });

    private async Task<(int Code, string Stdout, string Stderr)> CliAsync(params string[] args) =>
        await PublishedCli.RunAsync(Socket, TimeSpan.FromMinutes(3), args);

    [SkippableFact]
    public async Task Cli_RunExecKillDaemon_SandboxSurvivesAndIsReattached()
    {
        SandboxTestHost.RequireEngine();
        TestEnvironment.Require(File.Exists(Path.Combine(TestEnvironment.ArtifactsBin, "stratad")) && File.Exists(Path.Combine(TestEnvironment.ArtifactsBin, "strata")),
            "stratad and strata are not published; run scripts/publish-native.sh");
        await StartDaemonAsync();
        Assert.Equal(0, (await CliAsync("image", "build-base", "busybox")).Code);

        var run = await CliAsync("run", "--tier", "sandbox", "-e", "FOO=bar", "busybox", "--", "sh", "-c", "uname -r; echo $FOO; echo err >&2; exit 4");
        Assert.Equal(4, run.Code);
        var lines = run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.NotEqual(File.ReadAllText("/proc/sys/kernel/osrelease").Trim(), lines[0]);
        Assert.Equal("bar", lines[1]);
        Assert.DoesNotContain("err", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("err", run.Stderr, StringComparison.Ordinal);

        // -v through the CLI and the daemon: read and write a granted host directory.
        var shared = _temp.Combine("shared");
        Directory.CreateDirectory(shared);
        await File.WriteAllTextAsync(Path.Combine(shared, "in"), "host-data\n");
        var mounted = await CliAsync("run", "--rm", "--tier", "sandbox", "-v", shared + ":/data", "busybox", "--", "sh", "-c", "cat /data/in; echo guest-data > /data/out");
        Assert.True(mounted.Code == 0, mounted.Stderr);
        Assert.Equal("host-data\n", mounted.Stdout);
        Assert.Equal("guest-data\n", await File.ReadAllTextAsync(Path.Combine(shared, "out")));

        Assert.Equal(0, (await CliAsync("run", "-d", "--name", "svc", "--tier", "sandbox", "busybox", "--", "sleep", "600")).Code);
        var exec = await CliAsync("exec", "svc", "--", "sh", "-c", "echo inside; exit 5");
        Assert.Equal(5, exec.Code);
        Assert.Equal("inside\n", exec.Stdout);
        var qemuPid = int.Parse((await CliAsync("inspect", "svc", "--json")).Stdout.Split("\"pid\":")[1].Split(',', '}')[0].Trim());

        _daemon!.Kill();
        await _daemon.WaitForExitAsync();
        Assert.True(Directory.Exists($"/proc/{qemuPid}"), "the sandbox's QEMU died with the daemon");

        await StartDaemonAsync();
        var ps = await CliAsync("ps");
        Assert.Contains("running", ps.Stdout.Split('\n').Single(l => l.StartsWith("svc ", StringComparison.Ordinal)), StringComparison.Ordinal);
        var again = await CliAsync("exec", "svc", "--", "echo", "reattached");
        Assert.Equal(0, again.Code);
        Assert.Equal("reattached\n", again.Stdout);
        Assert.Equal(0, (await CliAsync("stop", "svc")).Code);
        Assert.True(await TestEnvironment.EventuallyAsync(() => !Directory.Exists($"/proc/{qemuPid}"), TimeSpan.FromSeconds(30)), "QEMU still runs after stop");
    }

    public void Dispose()
    {
        if (_daemon is { HasExited: false })
        {
            CliAsync("stop", "svc").GetAwaiter().GetResult();
            _daemon.Kill();
            _daemon.WaitForExit();
        }
        _daemon?.Dispose();
        _temp.Dispose();
    }
}
