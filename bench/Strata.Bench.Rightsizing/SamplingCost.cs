using System.Diagnostics;
using System.Globalization;
using Strata.Bench.Core;
using Strata.Client;
using Strata.Contracts;

/// <summary>
/// The usage sampler's CPU cost, side by side: two published <c>stratad</c>s of the same build run at once on their own
/// temporary roots, each with the same N process-tier instances (<c>sleep</c>), one sampling every
/// <c>--interval</c> seconds and one with sampling off (<c>--usage-interval 0</c>). Over the same windows the daemons'
/// own CPU time (utime + stime of /proc/PID/stat, every thread) is read; the difference over the rounds sampled is the
/// cost of one round, which the output also gives per instance. Optionally the instances run in <c>auto</c> mode, so the
/// right-sizing policy is evaluated every round too.
///   Strata.Bench.Rightsizing sampling [--stratad PATH] [--allow-debug-build] [--instances 50] [--interval 1]
///     [--windows 5] [--window-seconds 20] [--auto]
/// </summary>
internal static class SamplingCost
{
    public static async Task<int> RunAsync(string[] args)
    {
        var cli = new BenchArgs(args);
        if (MeasuredBuild.Resolve(cli, "stratad") is not [var stratad])
        {
            return 2;
        }
        var count = cli.Int("--instances", 50);
        var interval = double.Parse(cli.Get("--interval", "1"), CultureInfo.InvariantCulture);
        var windows = cli.Int("--windows", 5);
        var windowSeconds = cli.Int("--window-seconds", 20);
        var auto = cli.Has("--auto");
        var probe = new ProcHostProbe();
        var work = Path.Combine(Path.GetTempPath(), $"rs-sampling-{Environment.ProcessId}");
        Console.WriteLine($"machine: {Environment.ProcessorCount} CPUs, clock ticks {TicksPerSecond} Hz; load average {probe.LoadAverage()}");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{count} process instances (sleep) on each of two daemons; sampling every {interval} s against --usage-interval 0; {(auto ? "right-sizing auto" : "right-sizing recommend (the default: the policy is not evaluated)")}; {windows} windows of {windowSeconds} s"));
        var on = Start(stratad, Path.Combine(work, "on"), interval);
        var off = Start(stratad, Path.Combine(work, "off"), 0);
        try
        {
            await Task.WhenAll(PopulateAsync(on.Client, count, auto), PopulateAsync(off.Client, count, auto));
            await Task.Delay(TimeSpan.FromSeconds(Math.Max(3, interval * 2))); // the first round of each instance is only a baseline
            Console.WriteLine($"{"window",6} {"on: cpu ms",11} {"off: cpu ms",12} {"rounds",7} {"µs/round",9} {"µs/instance",12} {"load",6}");
            var perRound = new List<double>();
            for (var w = 1; w <= windows; w++)
            {
                var (onBefore, offBefore) = (CpuTicks(on.Process.Id), CpuTicks(off.Process.Id));
                var clock = Stopwatch.StartNew();
                await Task.Delay(TimeSpan.FromSeconds(windowSeconds));
                var (onTicks, offTicks) = (CpuTicks(on.Process.Id) - onBefore, CpuTicks(off.Process.Id) - offBefore);
                var rounds = clock.Elapsed.TotalSeconds / interval;
                var onMs = onTicks * 1000.0 / TicksPerSecond;
                var offMs = offTicks * 1000.0 / TicksPerSecond;
                var round = (onMs - offMs) * 1000 / rounds;
                perRound.Add(round);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{w,6} {onMs,11:0} {offMs,12:0} {rounds,7:0} {round,9:0} {round / count,12:0.0} {(probe.LoadAverage() ?? "?").Split(' ')[0],6}"));
            }
            perRound.Sort();
            var median = perRound[perRound.Count / 2];
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"sampling cost: median {median:0} µs of daemon CPU per round with {count} instances ({median / count:0.0} µs per instance; range {perRound[0]:0}–{perRound[^1]:0} µs); at the default 10 s interval that is {median / 10 / 1e4:0.###} % of one core"));
            return 0;
        }
        finally
        {
            var exited = on.Process.HasExited || off.Process.HasExited;
            await on.DisposeAsync();
            await off.DisposeAsync();
            if (exited)
            {
                Console.Error.WriteLine($"a daemon exited early; its log is kept in {work}");
            }
            else
            {
                try
                {
                    Directory.Delete(work, recursive: true);
                }
                catch (IOException)
                {
                    Console.Error.WriteLine($"note: {work} was not removed");
                }
            }
        }
    }

    private static readonly long TicksPerSecond = 100; // USER_HZ on Linux

    private static long CpuTicks(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture); // utime, stime
    }

    private static Daemon Start(string stratad, string root, double interval)
    {
        Directory.CreateDirectory(root);
        var socket = Path.Combine(root, "s.sock");
        var process = Process.Start(new ProcessStartInfo(stratad)
        {
            ArgumentList = { "--root", Path.Combine(root, "root"), "--socket", socket, "--no-docker-socket", "--usage-interval", interval.ToString(CultureInfo.InvariantCulture) },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var log = Path.Combine(root, "stratad.log");
        _ = CopyAsync(process.StandardOutput, log + ".out");
        _ = CopyAsync(process.StandardError, log + ".err");
        return new Daemon(process, new StrataClient(new ClientOptions { Socket = socket }), log);
    }

    private static async Task CopyAsync(StreamReader from, string path)
    {
        await using var to = File.CreateText(path);
        await to.WriteAsync(await from.ReadToEndAsync());
    }

    private static async Task PopulateAsync(StrataClient client, int count, bool auto)
    {
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (true)
        {
            try
            {
                await client.InfoAsync();
                break;
            }
            catch (DaemonUnreachableException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(100);
            }
        }
        for (var i = 0; i < count; i++)
        {
            await client.CreateAsync(new InstanceSpec
            {
                Name = "sampled-" + i.ToString(CultureInfo.InvariantCulture),
                Tier = "process",
                Args = ["sleep", "3600"],
                Rightsize = auto ? RightsizeModes.Auto : null,
            });
        }
    }

    private sealed record Daemon(Process Process, StrataClient Client, string Log) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            if (Process.HasExited)
            {
                Console.Error.WriteLine($"stratad ({Log}) exited with {Process.ExitCode}");
                return;
            }
            try
            {
                foreach (var instance in (await Client.ListAsync()).Items)
                {
                    await Client.DeleteAsync(instance.Name, force: true);
                }
            }
            catch (Exception e) when (e is DaemonUnreachableException or StrataApiException)
            {
                Console.Error.WriteLine($"note: instances not removed: {e.Message}");
            }
            Process.Kill();
            await Process.WaitForExitAsync();
            Process.Dispose();
        }
    }
}
