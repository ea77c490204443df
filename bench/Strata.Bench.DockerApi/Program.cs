using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using Strata.Bench.Core;
using Strata.Node.Drivers.Container;
using static Strata.Bench.Core.BenchStatistics;

namespace Strata.Bench.DockerApi;

/// <summary>
/// P12 (docs/docker-api.md, "Measured"): `docker run --rm busybox true` against stratad's Docker API socket
/// against `podman run --rm --runtime runc` of the same busybox files, alternating rounds so drift on a shared
/// machine hits both alike; medians and the ratio. Both sides run without a network (`--network none`); the docker
/// run on Strata's default network is measured in the same rounds and reported separately.
/// P1's `strata run --rm` and the docker CLI's own floor (`docker ps -q`) are measured in the same rounds for reference.
/// Usage: Strata.Bench.DockerApi [--stratad PATH] [--supervisor PATH] [--strata PATH] [--docker PATH] [--allow-debug-build] [--rounds 20]
/// The binaries default to the published ones in artifacts/bin (scripts/publish-native.sh); the output names the build
/// measured. Needs root, runc, busybox-static, a docker CLI and podman. Nothing is pulled: the Strata side serves the
/// busybox directory (`stratad --image busybox=DIR`), podman imports a tarball of the same directory.
/// </summary>
internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        var cli = new BenchArgs(args);
        var published = MeasuredBuild.PublishedDirectory();
        var stratad = Path.GetFullPath(cli.Get("--stratad", Path.Combine(published, "stratad")));
        var supervisor = Path.GetFullPath(cli.Get("--supervisor", Path.Combine(published, "strata-supervisor")));
        var strata = Path.GetFullPath(cli.Get("--strata", Path.Combine(published, "strata")));
        var docker = cli.Get("--docker", OciRuntime.Which("docker") ?? "docker");
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
            Console.WriteLine(MeasuredBuild.Describe(cli.Has("--allow-debug-build"), ("stratad", stratad), ("supervisor", supervisor), ("strata", strata)));
        }
        catch (InvalidOperationException e)
        {
            Console.Error.WriteLine(e.Message);
            return 2;
        }
        var rounds = cli.Int("--rounds", 20);
        Console.WriteLine($"docker CLI {docker}: {TimedCommand.Output(docker, "--version").Trim()}; {TimedCommand.Output(podman, "--version").Trim()}");
        Console.WriteLine($"load average before: {File.ReadAllText("/proc/loadavg").Trim()}");

        var work = Directory.CreateTempSubdirectory("strata-bench-dk-").FullName;
        await using var kit = new BaselineKit(Path.Combine(work, "kit"), "dockerapi");
        kit.BuildRootfs(busybox);
        kit.ImportPodmanImage(podman);
        var dockerSocket = Path.Combine(work, "d.sock");
        var socket = Path.Combine(work, "s.sock");
        var daemon = Process.Start(new ProcessStartInfo(stratad)
        {
            ArgumentList =
            {
                "--root", Path.Combine(work, "root"), "--socket", socket, "--supervisor", supervisor,
                "--image", "busybox=" + kit.Rootfs!, "--docker-socket", dockerSocket,
            },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        _ = daemon.StandardOutput.ReadToEndAsync();
        _ = daemon.StandardError.ReadToEndAsync();
        try
        {
            await WaitForSocketAsync(dockerSocket, daemon);
            var dockerEnv = new Dictionary<string, string> { ["DOCKER_HOST"] = "unix://" + dockerSocket, ["DOCKER_CONFIG"] = Path.Combine(work, "docker-config") };
            var dockerNone = () => TimedCommand.Run(docker, dockerEnv, "run", "--rm", "--network", "none", "busybox", "true");
            var dockerDefault = () => TimedCommand.Run(docker, dockerEnv, "run", "--rm", "busybox", "true");
            // P1's command in the same rounds: Strata's own CLI on the same daemon and image.
            var strataRun = () => TimedCommand.Run(strata, "--socket", socket, "run", "--rm", "--tier", "container", "busybox", "/bin/true");
            // The floor the docker CLI itself adds: its start-up and one request (no container).
            var dockerFloor = () => TimedCommand.Run(docker, dockerEnv, "ps", "-q");
            var podmanRun = () => TimedCommand.Run(podman, "run", "--rm", "--runtime", "runc", "--network", "none", "--ulimit", "nofile=1024:1024",
                "--ulimit", "nproc=1024:1024", "--cgroup-manager", "cgroupfs", kit.PodmanImage!, "true");

            // Warm-up: the first runs pay for page-cache misses and JIT in the daemon.
            for (var i = 0; i < 3; i++)
            {
                dockerNone();
                podmanRun();
                dockerDefault();
                strataRun();
            }
            var a = new List<double>();
            var b = new List<double>();
            var c = new List<double>();
            var d = new List<double>();
            var e = new List<double>();
            for (var r = 0; r < rounds; r++)
            {
                a.Add(dockerNone());
                b.Add(podmanRun());
                c.Add(dockerDefault());
                d.Add(dockerFloor());
                e.Add(strataRun());
            }
            Console.WriteLine($"P12 ({rounds} rounds, alternating, median ms; p90 in brackets)");
            Console.WriteLine($"  docker run --rm --network none (Strata socket) {Median(a),8:0.0} [{Percentile([.. a.Order()], 0.9):0.0}]   {Median(a) / Median(b):0.00}x podman (target <= 0.25x)");
            Console.WriteLine($"  podman run --rm --runtime runc --network none  {Median(b),8:0.0} [{Percentile([.. b.Order()], 0.9):0.0}]");
            Console.WriteLine($"  docker run --rm (Strata's default network)     {Median(c),8:0.0} [{Percentile([.. c.Order()], 0.9):0.0}]   {Median(c) / Median(b):0.00}x podman (informational)");
            Console.WriteLine($"  docker ps -q (the CLI's start-up and one request) {Median(d),6:0.0} [{Percentile([.. d.Order()], 0.9):0.0}]");
            Console.WriteLine($"  strata run --rm (P1's command, same daemon)     {Median(e),8:0.0} [{Percentile([.. e.Order()], 0.9):0.0}]   {Median(e) / Median(b):0.00}x podman (informational)");
            Console.WriteLine($"load average after: {File.ReadAllText("/proc/loadavg").Trim()}");
            return 0;
        }
        finally
        {
            // SIGTERM: the daemon finishes the background cleanup of the last auto-removed runs (their network
            // namespaces) before it exits; killed only if it does not within 30 s.
            TimedCommand.RunQuietly("kill", "-TERM", daemon.Id.ToString(CultureInfo.InvariantCulture));
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
            try
            {
                Directory.Delete(work, recursive: true);
            }
            catch (IOException)
            {
            }
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
}
