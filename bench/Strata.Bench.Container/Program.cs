using System.Diagnostics;
using System.Globalization;
using Strata.Bench.Core;
using Strata.Client;
using Strata.Contracts;
using Strata.Node.Drivers.Container;
using Strata.Contracts.Drivers;
using static Strata.Bench.Core.BenchStatistics;

namespace Strata.Bench.Container;

/// <summary>
/// Start-latency benchmark of the container tier (docs/container.md, "Benchmarks"):
///   P1: `strata run --rm busybox /bin/true` (CLI → daemon → supervisor → runc, end to end) against
///       `podman run --rm --runtime runc` of the same rootfs and a raw `runc run` of a prepared bundle (Strata's own config.json),
///       alternating A B C so drift hits all three alike; medians and ratios.
///   P2: 100 sequential runs through the API (typed client, attached run) against 100 raw runtime runs.
/// Usage: Strata.Bench.Container [--stratad PATH] [--strata PATH] [--supervisor PATH] [--allow-debug-build] [--rounds 20] [--sequential 100] [--daemon-log FILE]
/// The binaries default to the published ones in artifacts/bin (scripts/publish-native.sh); the output names the build measured.
/// Needs root, runc, busybox-static; podman is optional (skipped with a note when missing).
/// </summary>
internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        var cli = new BenchArgs(args);
        // The published build users run (artifacts/bin) unless told otherwise; a Debug stratad is refused unless asked for.
        if (MeasuredBuild.Resolve(cli, "stratad", "strata", "supervisor") is not [var stratad, var strata, var supervisor])
        {
            return 2;
        }
        var rounds = cli.Int("--rounds", 20);
        var sequential = cli.Int("--sequential", 100);
        var runc = OciRuntime.Which("runc") ?? throw new InvalidOperationException("runc is not installed");
        var busybox = OciRuntime.StaticBusybox() ?? throw new InvalidOperationException("busybox-static is not installed");

        var work = Directory.CreateTempSubdirectory("strata-bench-").FullName;
        await using var kit = new BaselineKit(Path.Combine(work, "kit"), "container");
        kit.BuildRootfs(busybox);
        kit.PrepareDefaultBundle(runc);
        var rootfs = kit.Rootfs!;
        var socket = Path.Combine(work, "s.sock");
        var daemonStart = new ProcessStartInfo(stratad)
        {
            ArgumentList = { "--root", Path.Combine(work, "root"), "--socket", socket, "--supervisor", supervisor, "--image", "busybox=" + rootfs },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        var daemonLog = cli.Get("--daemon-log", "");
        if (daemonLog.Length > 0)
        {
            // Each run's timeline (docs/bench.md, "Where the time goes") lands in this file.
            daemonStart.Environment["Logging__LogLevel__Strata.Daemon.RunTimeline"] = "Debug";
        }
        var daemon = Process.Start(daemonStart)!;
        var daemonOutput = daemon.StandardOutput.ReadToEndAsync();
        _ = daemon.StandardError.ReadToEndAsync();
        var podman = OciRuntime.Which("podman");
        try
        {
            using var client = new StrataClient(new ClientOptions { Socket = socket });
            await TimedCommand.WaitForDaemonAsync(client, TimeSpan.FromSeconds(30));
            if (podman is not null)
            {
                TimedCommand.RunQuietly(podman, "rmi", "-f", "strata-bench-busybox");
                var tar = Path.Combine(work, "rootfs.tar");
                TimedCommand.Run("tar", "-C", rootfs, "-cf", tar, ".");
                TimedCommand.Run(podman, "import", tar, "strata-bench-busybox");
            }

            var strataCli = () => TimedCommand.Run(strata, "--socket", socket, "run", "--rm", "--tier", "container", "busybox", "/bin/true");
            var podmanRun = () => TimedCommand.Run(podman!, "run", "--rm", "--runtime", "runc", "--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
                "--cgroup-manager", "cgroupfs", "strata-bench-busybox", "/bin/true");
            // Same flags (docs/SPECIFICATION.md): the raw runtime runs the config.json Strata writes for this very workload.
            await client.CreateAsync(new InstanceSpec { Name = "bench-config", Tier = "container", Image = "busybox", Args = ["/bin/true"] }, start: false);
            kit.PrepareBundleFrom(await client.RuntimeConfigAsync("bench-config"));
            await client.DeleteAsync("bench-config", force: true);
            var id = 0;
            var rawRunc = () => TimedCommand.Run(runc, "--root", Path.Combine(work, "runc-state"), "run", "--bundle", kit.Bundle!, "raw-" + id++);
            var rawDefaults = () => TimedCommand.Run(runc, "--root", Path.Combine(work, "runc-state"), "run", "--bundle", kit.DefaultBundle!, "raw-" + id++);

            // Warm-up: first runs pay for page-cache misses and JIT in the daemon.
            for (var i = 0; i < 3; i++)
            {
                strataCli();
                rawRunc();
                rawDefaults();
                if (podman is not null)
                {
                    podmanRun();
                }
            }

            var a = new List<double>();
            var b = new List<double>();
            var c = new List<double>();
            var d = new List<double>();
            for (var r = 0; r < rounds; r++)
            {
                a.Add(strataCli());
                if (podman is not null)
                {
                    b.Add(podmanRun());
                }
                c.Add(rawRunc());
                d.Add(rawDefaults());
            }
            Console.WriteLine($"P1 ({rounds} rounds, alternating, median ms)");
            Console.WriteLine($"  strata run --rm (CLI, end to end) {Median(a),8:0.0}   {Median(a) / Median(c),5:0.00}x raw runc");
            Console.WriteLine(podman is null ? "  podman run --rm --runtime runc     (podman not installed: skipped)"
                : $"  podman run --rm --runtime runc    {Median(b),8:0.0}   {Median(b) / Median(c),5:0.00}x raw runc; strata/podman {Median(a) / Median(b):0.00}x");
            Console.WriteLine($"  runc run (Strata's config.json)   {Median(c),8:0.0}");
            Console.WriteLine($"  runc run (runc spec defaults)     {Median(d),8:0.0}   strata {Median(a) / Median(d):0.00}x of it (informational: no seccomp, no limits)");

            // P2: sequential runs through the API, no CLI process in between, against raw runtime runs. Alternating
            // blocks of ten (the honesty rule: drift on a shared machine hits both alike); within a block runs follow
            // each other as in a loop of 100, so an instance's removal overlaps the next run as it would there.
            const int Block = 10;
            var api = new List<double>();
            var raw = new List<double>();
            double apiTotal = 0, rawTotal = 0;
            for (var done = 0; done < sequential; done += Block)
            {
                var n = Math.Min(Block, sequential - done);
                var block = Stopwatch.StartNew();
                for (var i = 0; i < n; i++)
                {
                    var sw = Stopwatch.StartNew();
                    await foreach (var frame in client.RunAttachedAsync(new InstanceSpec { Tier = "container", Image = "busybox", Args = ["/bin/true"], AutoRemove = true }))
                    {
                        if (frame.Exit is { } exit)
                        {
                            if (exit.ExitCode != 0)
                            {
                                throw new InvalidOperationException($"run failed: {exit.State} {exit.Reason}");
                            }
                            break; // done, as for the CLI: the exit code is known (removal finishes in the daemon)
                        }
                    }
                    api.Add(sw.Elapsed.TotalMilliseconds);
                }
                apiTotal += block.Elapsed.TotalMilliseconds;
                block.Restart();
                for (var i = 0; i < n; i++)
                {
                    raw.Add(rawRunc());
                }
                rawTotal += block.Elapsed.TotalMilliseconds;
            }
            Console.WriteLine($"P2 ({sequential} sequential runs each, alternating blocks of {Block})");
            Console.WriteLine($"  API (attached run, --rm)   total {apiTotal / 1000,6:0.00} s  median {Median(api),6:0.0} ms  p90 {Percentile([.. api.Order()], 0.9),6:0.0} ms");
            Console.WriteLine($"  raw runc run (same config) total {rawTotal / 1000,6:0.00} s  median {Median(raw),6:0.0} ms  p90 {Percentile([.. raw.Order()], 0.9),6:0.0} ms");
            Console.WriteLine($"  ratio                      total {apiTotal / rawTotal:0.00}x  median {Median(api) / Median(raw):0.00}x");

            await DriverPhasesAsync(supervisor, rootfs, work, Math.Min(sequential, 30));
            return 0;
        }
        finally
        {
            daemon.Kill();
            await daemon.WaitForExitAsync();
            if (daemonLog.Length > 0)
            {
                await File.WriteAllTextAsync(daemonLog, await daemonOutput);
            }
            if (podman is not null)
            {
                TimedCommand.RunQuietly(podman, "rmi", "-f", "strata-bench-busybox");
            }
            try
            {
                Directory.Delete(work, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>Where the time goes: the driver alone (no daemon, no store, no HTTP), phase by phase.</summary>
    private static async Task DriverPhasesAsync(string supervisor, string rootfs, string work, int runs)
    {
        using var driver = new ContainerDriver(new ContainerDriverOptions { Supervisor = supervisor, RuntimeStateRoot = Path.Combine(work, "oci") },
            new Strata.Node.Images.DirectoryImageResolver(new Dictionary<string, string> { ["busybox"] = rootfs }));
        await driver.FingerprintAsync(CancellationToken.None);
        var phases = new Dictionary<string, List<double>> { ["create"] = [], ["start"] = [], ["wait"] = [], ["delete"] = [], ["total"] = [] };
        for (var i = 0; i < runs + 2; i++)
        {
            var id = "bench" + i.ToString(CultureInfo.InvariantCulture) + Guid.NewGuid().ToString("N")[..8];
            var dir = Path.Combine(work, "drv", id);
            Directory.CreateDirectory(dir);
            var total = Stopwatch.StartNew();
            var sw = Stopwatch.StartNew();
            var handle = await driver.CreateAsync(new Strata.Contracts.Drivers.CreateRequest
            {
                InstanceId = id, Name = "b", Project = "default", Directory = dir,
                Spec = new InstanceSpec { Tier = "container", Image = "busybox", Args = ["/bin/true"] },
            }, CancellationToken.None);
            var create = sw.Elapsed.TotalMilliseconds;
            sw.Restart();
            handle = await driver.StartAsync(handle, CancellationToken.None);
            var start = sw.Elapsed.TotalMilliseconds;
            sw.Restart();
            await driver.WaitAsync(handle, CancellationToken.None);
            var wait = sw.Elapsed.TotalMilliseconds;
            sw.Restart();
            await driver.DeleteAsync(handle, CancellationToken.None);
            Directory.Delete(dir, recursive: true);
            var delete = sw.Elapsed.TotalMilliseconds;
            if (i >= 2)
            {
                phases["create"].Add(create);
                phases["start"].Add(start);
                phases["wait"].Add(wait);
                phases["delete"].Add(delete);
                phases["total"].Add(total.Elapsed.TotalMilliseconds);
            }
        }
        Console.WriteLine($"Driver phases ({runs} runs, median ms): " + string.Join("  ", phases.Select(p => $"{p.Key} {Median(p.Value):0.0}")));
    }
}
