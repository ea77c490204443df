using System.Diagnostics;
using System.Text.Json;
using Strata.Bench.Core;
using Strata.Contracts;
using Strata.Testing;

namespace Strata.Bench.Tests;

/// <summary>
/// <c>strata bench --quick --json</c> as a user runs it: the NativeAOT CLI against a real <c>stratad</c> on every real
/// tier of this host, with podman and raw runc as baselines; nothing may be left behind, and the advisor must then
/// quote the measured numbers.
/// </summary>
[Collection("end-to-end")]
public sealed class BenchAcceptanceTests : IDisposable
{
    private readonly TempDirectory _dir = new("strata-bench-e2e");
    private Process? _daemon;

    private string Socket => _dir.Combine("s.sock");
    private string Root => _dir.Combine("root");
    private static string Cli => PublishedCli.Path;
    private static string Stratad => Path.Combine(TestEnvironment.ArtifactsBin, "stratad");

    [SkippableFact]
    public async Task BenchQuickJson_RealTiers_ResultForEveryTierAndBaseline_LeavesNothingBehind()
    {
        TestEnvironment.Require(File.Exists(Cli) && File.Exists(Stratad), $"{Cli} and {Stratad} are missing; run scripts/publish-native.sh");
        TestEnvironment.Require(TestEnvironment.IsRoot, "the container baselines and tiers need root");
        TestEnvironment.Require(TestEnvironment.Which("runc") is not null, "runc is not installed");
        TestEnvironment.Require(TestEnvironment.Which("podman") is not null, "podman is not installed (the bench's baseline)");
        await StartDaemonAsync();

        var (code, stdout, stderr) = RunCli(TimeSpan.FromMinutes(15), "bench", "--quick", "--json");

        Assert.True(code == 0, $"strata bench failed ({code}): {stderr}");
        var report = JsonSerializer.Deserialize(stdout, BenchJsonContext.Default.BenchReport)!;
        var info = JsonSerializer.Deserialize(RunCli(TimeSpan.FromMinutes(1), "info", "--json").Stdout, StrataJsonContext.Default.DaemonInfo)!;
        var available = info.Tiers.Where(t => t.Available && t.Tier != "fake").Select(t => t.Tier).ToList();
        Assert.NotEmpty(available);
        foreach (var name in available.Concat(["podman", "runc"]))
        {
            var target = report.Find(name);
            Assert.True(target is not null, $"no result for {name}");
            Assert.True(target!.Exit is { Count: >= 1 }, $"{name} has no start latency: {target.Skipped} {string.Join("; ", target.Errors)}");
        }
        foreach (var name in available)
        {
            Assert.True(report.Tiers.ContainsKey(name), $"{name} is missing from the advisor's costs");
        }
        Assert.Equal(report.Machine.Cpus, info.Host.Cpus);
        Assert.NotEqual("unknown", report.Machine.Accelerator);

        Assert.Equal("", RunCli(TimeSpan.FromMinutes(1), "ps", "-a", "-q").Stdout.Trim());
        var podmanImages = Run("podman", "images", "--format", "{{.Repository}}");
        Assert.DoesNotContain("strata-bench-busybox", podmanImages, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(Root, "bench", "results.json")), "the results were not stored under the daemon's root");

        var advice = RunCli(TimeSpan.FromMinutes(1), "advise", "--image", "busybox");
        Assert.True(advice.ExitCode == 0, advice.Stderr);
        Assert.Contains("measured on this host, strata bench", advice.Stdout, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Bench_CtrlCMidway_ExitsWith130AndRemovesEveryInstance()
    {
        TestEnvironment.Require(File.Exists(Cli) && File.Exists(Stratad), $"{Cli} and {Stratad} are missing; run scripts/publish-native.sh");
        TestEnvironment.Require(TestEnvironment.IsRoot, "the container tier needs root");
        await StartDaemonAsync();
        // Through env --default-signal: a test host started in the background by a non-interactive shell inherits
        // SIGINT ignored, and so would the CLI, which then (rightly) keeps ignoring it. A user's Ctrl-C is SIG_DFL.
        var psi = new ProcessStartInfo("env") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.Environment["STRATA_SOCKET"] = Socket;
        foreach (var a in (string[])["--default-signal=INT", Cli, "bench", "--tiers", "process,container", "--runs", "200", "--no-baselines", "--no-save", "--json"])
        {
            psi.ArgumentList.Add(a);
        }
        using var bench = Process.Start(psi)!;
        var inRounds = new TaskCompletionSource();
        bench.ErrorDataReceived += (_, e) =>
        {
            if (e.Data?.Contains("round 3:", StringComparison.Ordinal) == true)
            {
                inRounds.TrySetResult();
            }
        };
        bench.BeginErrorReadLine();
        var stdout = bench.StandardOutput.ReadToEndAsync();
        await inRounds.Task.WaitAsync(TimeSpan.FromMinutes(5));

        Run("kill", "-INT", bench.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(bench.WaitForExit(TimeSpan.FromMinutes(3)), "strata bench did not end after SIGINT");

        Assert.Equal(130, bench.ExitCode);
        Assert.Equal("", (await stdout).Trim()); // no report for an interrupted run
        Assert.Equal("", RunCli(TimeSpan.FromMinutes(1), "ps", "-a", "-q").Stdout.Trim());
    }

    [SkippableFact]
    public async Task Bench_KilledWithSigkill_CleanRemovesItsLabelledLeftoversAndNamesThem()
    {
        TestEnvironment.Require(File.Exists(Cli) && File.Exists(Stratad), $"{Cli} and {Stratad} are missing; run scripts/publish-native.sh");
        await StartDaemonAsync();
        var psi = new ProcessStartInfo(Cli) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.Environment["STRATA_SOCKET"] = Socket;
        foreach (var a in (string[])["bench", "--tiers", "process", "--runs", "1", "--no-baselines", "--no-save", "--json"])
        {
            psi.ArgumentList.Add(a);
        }
        using var bench = Process.Start(psi)!;
        var secondIdle = new TaskCompletionSource();
        var progress = new System.Collections.Concurrent.ConcurrentQueue<string>();
        // Read on a thread of its own, not through BeginErrorReadLine's thread-pool callbacks: on a loaded CI host those
        // ran so late that the bench had finished its idle instances (and removed them) before the line "idle instance
        // 2/" was seen, and the list was empty.
        var reader = new Thread(() =>
        {
            while (bench.StandardError.ReadLine() is { } line)
            {
                progress.Enqueue(line);
                if (line.Contains("idle instance 2/", StringComparison.Ordinal) && !secondIdle.Task.IsCompleted)
                {
                    // The first idle instance runs, labelled: killed here (SIGKILL, no finally of the bench runs).
                    try
                    {
                        bench.Kill();
                    }
                    catch (InvalidOperationException)
                    {
                        // it has exited already; the assertions below say what it left
                    }
                    secondIdle.TrySetResult();
                }
            }
        }) { IsBackground = true, Name = "bench stderr" };
        reader.Start();
        _ = bench.StandardOutput.ReadToEndAsync();
        await secondIdle.Task.WaitAsync(TimeSpan.FromMinutes(5));
        await bench.WaitForExitAsync();
        var left = RunCli(TimeSpan.FromMinutes(1), "ps", "-a", "--json").Stdout;
        var names = JsonSerializer.Deserialize(left, StrataJsonContext.Default.InstanceList)!.Items.Select(i => i.Name).ToList();
        Assert.True(names.Count > 0, "nothing is listed after the bench was killed at its second idle instance; the bench said:\n" + string.Join('\n', progress));
        Assert.All(names, n => Assert.StartsWith(InstanceTracker.Prefix, n, StringComparison.Ordinal));

        var (code, stdout, stderr) = RunCli(TimeSpan.FromMinutes(2), "bench", "--clean");
        Assert.True(code == 0, $"strata bench --clean failed ({code}): {stderr}");
        Assert.Contains("leftover", stdout, StringComparison.Ordinal);
        Assert.All(names, n => Assert.Contains(n, stdout, StringComparison.Ordinal)); // it names what it removed
        Assert.Equal("", RunCli(TimeSpan.FromMinutes(1), "ps", "-a", "-q").Stdout.Trim());
        Assert.Equal("no leftovers of an interrupted bench run", RunCli(TimeSpan.FromMinutes(1), "bench", "--clean").Stdout.Trim());
    }

    private async Task StartDaemonAsync() =>
        _daemon = await PublishedDaemon.StartAsync(Socket, ["--root", Root, "--socket", Socket]);

    private (int ExitCode, string Stdout, string Stderr) RunCli(TimeSpan timeout, params string[] args) => PublishedCli.Run(Socket, timeout, args);

    private static string Run(string file, params string[] args)
    {
        using var p = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return stdout;
    }

    public void Dispose()
    {
        if (_daemon is { HasExited: false })
        {
            _daemon.Kill();
            _daemon.WaitForExit();
        }
        _daemon?.Dispose();
        _dir.Dispose();
    }
}
