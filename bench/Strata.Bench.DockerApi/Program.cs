using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using Strata.Bench.Core;
using Strata.Node.Drivers.Container;

namespace Strata.Bench.DockerApi;

/// <summary>
/// P12 (docs/docker-api.md, "Measured"): `docker run --rm busybox true` against stratad's Docker API socket
/// against `podman run --rm --runtime runc` of the same busybox files, alternating rounds so drift on a shared
/// machine hits both alike; medians and the ratio. Both sides run without a network (`--network none`); the docker
/// run on Strata's default network is measured in the same rounds and reported separately.
/// P1's `strata run --rm` and the docker CLI's own floor (`docker ps -q`, and the same `docker run` against
/// <see cref="FloorServer"/>, which answers the run's requests at once) are measured in the same rounds for reference.
/// Usage: Strata.Bench.DockerApi [--stratad PATH] [--supervisor PATH] [--strata PATH] [--docker PATH] [--docker-old PATH]
///   [--allow-debug-build] [--rounds 20] [--timeline]
/// The binaries default to the published ones in artifacts/bin (scripts/publish-native.sh); the output names the build
/// measured. Needs root, runc, busybox-static, a docker CLI and podman. Nothing is pulled: the Strata side serves the
/// busybox directory (`stratad --image busybox=DIR`), podman imports a tarball of the same directory.
/// Two docker CLIs are measured in the same rounds: `--docker` (default: the one on PATH, 28.x here) and
/// `--docker-old` (default /usr/bin/docker, Debian's 20.10, when it is another binary).
/// Between commands the bench waits until the daemon has finished the background removal of the last run
/// (its instance directory is gone), so that work is not charged to the next command (podman's own removal is
/// inside its run). `--timeline` logs the daemon's run timelines (docs/docker-api.md) and prints the median of
/// each step; it adds the logging's cost, so its totals are not the ratio's.
/// </summary>
internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        string Arg(string name, string? fallback = null)
        {
            var i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback ?? throw new ArgumentException($"missing {name}");
        }
        var published = MeasuredBuild.PublishedDirectory();
        var stratad = Path.GetFullPath(Arg("--stratad", Path.Combine(published, "stratad")));
        var supervisor = Path.GetFullPath(Arg("--supervisor", Path.Combine(published, "strata-supervisor")));
        var strata = Path.GetFullPath(Arg("--strata", Path.Combine(published, "strata")));
        var docker = Arg("--docker", OciRuntime.Which("docker") ?? "docker");
        var dockerOld = Arg("--docker-old", "/usr/bin/docker");
        if (!File.Exists(dockerOld) || Path.GetFullPath(dockerOld) == Path.GetFullPath(docker))
        {
            dockerOld = "";
        }
        var timeline = args.Contains("--timeline");
        foreach (var binary in new[] { stratad, supervisor, strata })
        {
            if (!File.Exists(binary))
            {
                Console.Error.WriteLine($"{binary} is missing; run scripts/publish-native.sh first");
                return 1;
            }
        }
        var podman = OciRuntime.Which("podman");
        var runc = OciRuntime.Which("runc");
        var busybox = OciRuntime.StaticBusybox();
        if (podman is null || runc is null || busybox is null || !File.Exists(docker))
        {
            Console.Error.WriteLine("needs podman, runc, busybox-static and a docker CLI (scripts/deps/docker-api.txt)");
            return 1;
        }
        try
        {
            Console.WriteLine(MeasuredBuild.Describe(args.Contains("--allow-debug-build"), ("stratad", stratad), ("supervisor", supervisor), ("strata", strata)));
        }
        catch (InvalidOperationException e)
        {
            Console.Error.WriteLine(e.Message);
            return 2;
        }
        var rounds = int.Parse(Arg("--rounds", "20"), CultureInfo.InvariantCulture);
        Console.WriteLine($"docker CLI {docker}: {Capture(docker, "--version").Trim()}; {Capture(podman, "--version").Trim()}");
        if (dockerOld.Length > 0)
        {
            Console.WriteLine($"docker CLI {dockerOld}: {Capture(dockerOld, "--version").Trim()}");
        }
        Console.WriteLine($"load average before: {File.ReadAllText("/proc/loadavg").Trim()}");

        var work = Directory.CreateTempSubdirectory("strata-bench-dk-").FullName;
        await using var kit = new BaselineKit(Path.Combine(work, "kit"), "dockerapi");
        kit.BuildRootfs(busybox);
        kit.ImportPodmanImage(podman);
        var dockerSocket = Path.Combine(work, "d.sock");
        var socket = Path.Combine(work, "s.sock");
        var daemonStart = new ProcessStartInfo(stratad)
        {
            ArgumentList =
            {
                "--root", Path.Combine(work, "root"), "--socket", socket, "--supervisor", supervisor,
                "--image", "busybox=" + kit.Rootfs!, "--docker-socket", dockerSocket,
            },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        if (timeline)
        {
            daemonStart.Environment["Logging__LogLevel__Strata.Daemon.RunTimeline"] = "Debug";
        }
        var daemon = Process.Start(daemonStart)!;
        var daemonOutput = daemon.StandardOutput.ReadToEndAsync();
        _ = daemon.StandardError.ReadToEndAsync();
        try
        {
            await WaitForSocketAsync(dockerSocket, daemon);
            var dockerEnv = new Dictionary<string, string> { ["DOCKER_HOST"] = "unix://" + dockerSocket, ["DOCKER_CONFIG"] = Path.Combine(work, "docker-config") };
            var instances = Path.Combine(work, "root", "instances");
            // Waits (untimed) until the daemon has removed every instance directory: the last run's background
            // cleanup (unmount, cgroups, network teardown) is done and does not slow the next command down.
            void Settle()
            {
                var deadline = DateTime.UtcNow.AddSeconds(30);
                while (Directory.Exists(instances) && Directory.EnumerateDirectories(instances).Any() && DateTime.UtcNow < deadline)
                {
                    Thread.Sleep(2);
                }
            }
            double Strata(Func<double> run)
            {
                var ms = run();
                Settle();
                return ms;
            }
            var clis = new List<(string Label, string Path)> { ("docker " + Capture(docker, "--version").Split(' ', ',')[2], docker) };
            if (dockerOld.Length > 0)
            {
                clis.Add(("docker " + Capture(dockerOld, "--version").Split(' ', ',')[2], dockerOld));
            }
            var dockerNone = clis.Select(c => (Func<double>)(() => Strata(() => Run(c.Path, dockerEnv, "run", "--rm", "--network", "none", "busybox", "true")))).ToList();
            var dockerDefault = clis.Select(c => (Func<double>)(() => Strata(() => Run(c.Path, dockerEnv, "run", "--rm", "busybox", "true")))).ToList();
            // The floor the docker CLI itself adds: its start-up and one request (no container).
            var dockerFloor = clis.Select(c => (Func<double>)(() => Run(c.Path, dockerEnv, "ps", "-q"))).ToList();
            // The CLI's whole share of a run: the same command against a server that answers its requests at once.
            await using var floorServer = new FloorServer(Path.Combine(work, "floor.sock"));
            var floorEnv = new Dictionary<string, string>(dockerEnv) { ["DOCKER_HOST"] = "unix://" + Path.Combine(work, "floor.sock") };
            var dockerRunFloor = clis.Select(c => (Func<double>)(() => Run(c.Path, floorEnv, "run", "--rm", "--network", "none", "busybox", "true"))).ToList();
            // P1's command in the same rounds: Strata's own CLI on the same daemon and image.
            var strataRun = () => Strata(() => Run(strata, null, "--socket", socket, "run", "--rm", "--tier", "container", "busybox", "/bin/true"));
            var podmanRun = () => Run(podman, null, "run", "--rm", "--runtime", "runc", "--network", "none", "--ulimit", "nofile=1024:1024",
                "--ulimit", "nproc=1024:1024", "--cgroup-manager", "cgroupfs", kit.PodmanImage!, "true");

            // Warm-up: the first runs pay for page-cache misses and JIT in the daemon.
            for (var i = 0; i < 3; i++)
            {
                dockerNone.ForEach(f => f());
                dockerRunFloor.ForEach(f => f());
                podmanRun();
                dockerDefault.ForEach(f => f());
                strataRun();
            }
            var none = clis.Select(_ => new List<double>()).ToList();
            var withNetwork = clis.Select(_ => new List<double>()).ToList();
            var floor = clis.Select(_ => new List<double>()).ToList();
            var runFloor = clis.Select(_ => new List<double>()).ToList();
            var p = new List<double>();
            var e = new List<double>();
            for (var r = 0; r < rounds; r++)
            {
                for (var c = 0; c < clis.Count; c++)
                {
                    none[c].Add(dockerNone[c]());
                    runFloor[c].Add(dockerRunFloor[c]());
                }
                p.Add(podmanRun());
                for (var c = 0; c < clis.Count; c++)
                {
                    withNetwork[c].Add(dockerDefault[c]());
                    floor[c].Add(dockerFloor[c]());
                }
                e.Add(strataRun());
            }
            Console.WriteLine($"P12 ({rounds} rounds, alternating, median ms; p90 in brackets)");
            Console.WriteLine($"  podman run --rm --runtime runc --network none        {Median(p),8:0.0} [{Percentile(p, 0.9):0.0}]");
            for (var c = 0; c < clis.Count; c++)
            {
                Console.WriteLine($"  {clis[c].Label,-8} run --rm --network none (Strata socket) {Median(none[c]),8:0.0} [{Percentile(none[c], 0.9):0.0}]   {Median(none[c]) / Median(p):0.00}x podman (target <= 0.25x)");
                Console.WriteLine($"  {clis[c].Label,-8} run --rm (Strata's default network)    {Median(withNetwork[c]),8:0.0} [{Percentile(withNetwork[c], 0.9):0.0}]   {Median(withNetwork[c]) / Median(p):0.00}x podman (informational)");
                Console.WriteLine($"  {clis[c].Label,-8} ps -q (the CLI's start-up, one request) {Median(floor[c]),8:0.0} [{Percentile(floor[c], 0.9):0.0}]");
                Console.WriteLine($"  {clis[c].Label,-8} run --rm, instant server (CLI floor)    {Median(runFloor[c]),8:0.0} [{Percentile(runFloor[c], 0.9):0.0}]   {Median(runFloor[c]) / Median(p):0.00}x podman");
                Console.WriteLine($"  {clis[c].Label,-8} run --rm on Strata minus the floor: {Median(none[c]) - Median(runFloor[c]):0.0} ms (the daemon's and runc's part); minus strata run --rm: {Median(none[c]) - Median(e):0.0} ms");
            }
            Console.WriteLine($"  strata run --rm (P1's command, same daemon)          {Median(e),8:0.0} [{Percentile(e, 0.9):0.0}]   {Median(e) / Median(p):0.00}x podman (informational)");
            Console.WriteLine($"  requests to the instant server outside a run's sequence: {(floorServer.Unexpected.IsEmpty ? "none" : string.Join(", ", floorServer.Unexpected.Distinct()))}");
            Console.WriteLine($"load average after: {File.ReadAllText("/proc/loadavg").Trim()}");
            return 0;
        }
        finally
        {
            // SIGTERM: the daemon finishes the background cleanup of the last auto-removed runs (their network
            // namespaces) before it exits; killed only if it does not within 30 s.
            using (var term = Process.Start("kill", ["-TERM", daemon.Id.ToString(CultureInfo.InvariantCulture)]))
            {
                await term.WaitForExitAsync();
            }
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                await daemon.WaitForExitAsync(stop.Token);
            }
            catch (OperationCanceledException)
            {
                daemon.Kill();
                await daemon.WaitForExitAsync();
            }
            if (timeline)
            {
                PrintTimelines(await daemonOutput);
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

    /// <summary>
    /// The median duration of each step of the daemon's timelines (lines of the category Strata.Daemon.RunTimeline):
    /// docker runs grouped by network, and `strata run`.
    /// </summary>
    private static void PrintTimelines(string log)
    {
        var groups = new Dictionary<string, Dictionary<string, List<double>>>(StringComparer.Ordinal);
        foreach (var line in log.Split('\n'))
        {
            var marker = line.IndexOf("; step): ", StringComparison.Ordinal);
            if (marker < 0)
            {
                continue;
            }
            var docker = line.IndexOf(" on network ", StringComparison.Ordinal);
            var group = docker >= 0 ? "docker run, network " + line[(docker + 12)..].Split(' ')[0] : "strata run";
            var steps = groups.TryGetValue(group, out var g) ? g : groups[group] = new Dictionary<string, List<double>>(StringComparer.Ordinal);
            foreach (var part in line[(marker + 9)..].Split(" | "))
            {
                // "name +12.3 (4.5)": the step's duration is in the brackets.
                var open = part.LastIndexOf(" (", StringComparison.Ordinal);
                var plus = part.LastIndexOf(" +", open < 0 ? part.Length - 1 : open, StringComparison.Ordinal);
                if (open < 0 || plus < 0 || !double.TryParse(part[(open + 2)..].TrimEnd(')', ' ', '\r'), NumberStyles.Float, CultureInfo.InvariantCulture, out var ms))
                {
                    continue;
                }
                var name = part[..plus];
                (steps.TryGetValue(name, out var list) ? list : steps[name] = []).Add(ms);
            }
        }
        foreach (var (group, steps) in groups)
        {
            Console.WriteLine($"daemon timeline, {group} (median ms of each step over {steps.Values.Max(v => v.Count)} runs, in order):");
            Console.WriteLine("  " + string.Join(" | ", steps.Select(s => $"{s.Key} {Median(s.Value):0.0}")));
        }
    }

    private static async Task WaitForSocketAsync(string path, Process daemon)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            try
            {
                using var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                await s.ConnectAsync(new UnixDomainSocketEndPoint(path));
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline && !daemon.HasExited)
            {
                await Task.Delay(50);
            }
        }
    }

    private static string Capture(string file, string arg)
    {
        using var p = Process.Start(new ProcessStartInfo(file, arg) { RedirectStandardOutput = true })!;
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return output;
    }

    /// <summary>Runs a command to completion; returns the wall time in ms. Throws when it fails.</summary>
    private static double Run(string file, Dictionary<string, string>? env, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }
        foreach (var (k, v) in env ?? [])
        {
            start.Environment[k] = v;
        }
        var sw = Stopwatch.StartNew();
        using var p = Process.Start(start)!;
        var stderr = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        var ms = sw.Elapsed.TotalMilliseconds;
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed ({p.ExitCode}): {stderr.Result}");
        }
        return ms;
    }

    private static double Median(List<double> values) => Percentile(values, 0.5);

    private static double Percentile(List<double> values, double p)
    {
        var sorted = values.Order().ToList();
        return BenchStatistics.Percentile(sorted, p);
    }
}
