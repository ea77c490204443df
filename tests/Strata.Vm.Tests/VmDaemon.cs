using System.Diagnostics;
using System.Text.Json;
using Strata.Contracts;
using Strata.Testing;

namespace Strata.Vm.Tests;

/// <summary>
/// A real <c>stratad</c> and the NativeAOT <c>strata</c> CLI (from scripts/publish-native.sh) on a temp root, as a
/// user runs them: the vm tier through the whole stack.
/// </summary>
internal sealed class VmDaemon : IAsyncDisposable
{
    private readonly TempDirectory _dir = new("strata-vm-e2e");

    public Process? Process { get; private set; }
    public string Root => _dir.Combine("root");
    public string Socket => _dir.Combine("s.sock");
    public static string Cli => PublishedCli.Path;
    private static string Stratad => Path.Combine(TestEnvironment.ArtifactsBin, "stratad");

    public static void RequireBinaries()
    {
        VmFixture.RequireEngine();
        TestEnvironment.Require(File.Exists(Cli) && File.Exists(Stratad), $"{Cli} and {Stratad} are missing; run scripts/publish-native.sh");
    }

    /// <summary>Starts stratad on this root and waits until it answers (<see cref="PublishedDaemon.StartAsync"/>); its output is dropped.</summary>
    public async Task StartAsync() =>
        Process = await PublishedDaemon.StartAsync(Socket, ["--root", Root, "--socket", Socket, "--log-max-size", "1M"]);

    /// <summary>SIGKILL, as a crash would.</summary>
    public async Task KillAsync()
    {
        Process!.Kill();
        await Process.WaitForExitAsync();
    }

    public ProcessStartInfo CliStartInfo(params string[] args)
    {
        var psi = new ProcessStartInfo(Cli) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.Environment["STRATA_SOCKET"] = Socket;
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        return psi;
    }

    public (int ExitCode, string Stdout, string Stderr) Run(params string[] args) => PublishedCli.Run(Socket, TimeSpan.FromSeconds(180), args);

    public string RunOk(params string[] args)
    {
        var (code, stdout, stderr) = Run(args);
        Assert.True(code == 0, $"strata {string.Join(' ', args)} exited {code}: {stderr}");
        return stdout;
    }

    public InstanceInfo Inspect(string name) =>
        JsonSerializer.Deserialize(RunOk("inspect", "--json", name), StrataJsonContext.Default.InstanceInfo)!;

    public async ValueTask DisposeAsync()
    {
        if (Process is { HasExited: false })
        {
            Run("daemon", "stop", "--all");
            if (!Process.WaitForExit(TimeSpan.FromSeconds(30)))
            {
                Process.Kill();
            }
        }
        await Task.CompletedTask;
        _dir.Dispose();
    }
}
