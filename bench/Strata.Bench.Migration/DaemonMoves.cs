using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Strata.Bench.Core;
using Strata.Client;
using Strata.Contracts;

namespace Strata.Bench.Migration;

/// <summary>
/// <c>Strata.Bench.Migration daemons [ROUNDS] [BIN]</c>: <c>strata move</c> between two published stratad on this host
/// (their own roots and sockets, each listening on loopback TCP). An idle 256 MiB busybox VM (its disk is the image's
/// qcow2 overlay: the vm tier has no disk size setting; the engine's rounds above use a 1 GiB disk), its workload printing a counter every 10 ms, moves back and forth ROUNDS times; then a VM dirtying RAM (~50 MiB/s if the
/// guest gets the CPU) moves once over a 32 MiB/s link with auto-converge (a daemon's moves always have it).
/// Measured per move: the guest-seen downtime (the gap between the last counter line the source's log recorded and the
/// first the target's did; those timestamps are taken where the supervisors read the guest's output, so they include
/// the log pipeline), the largest gap between two lines across the move, the whole move as the caller sees it (the
/// request to the finished operation, the target's preparation included) and as the engine counts it, bytes sent, QEMU's downtime,
/// and the source's <c>moved</c> event (which carries the numbers).
/// </summary>
internal static class DaemonMoves
{
    private const string Name = "mvbench";
    private const string Counter = MigrationBench.Counter;
    private const string Dirtier = "dd if=/dev/urandom of=/tmp/src bs=1M count=5 2>/dev/null; "
        + "(k=0; while :; do dd if=/tmp/src of=/tmp/dst bs=1M count=5 seek=$((k*5)) conv=notrunc 2>/dev/null; k=$(((k+1)%12)); usleep 100000; done) & " + Counter;

    public static async Task<int> RunAsync(string[] args)
    {
        var rounds = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 4;
        var bin = args.Length > 1 ? args[1] : Environment.GetEnvironmentVariable("STRATA_BIN") ?? Path.GetFullPath("artifacts/bin");
        var work = Directory.CreateTempSubdirectory("mvbench-").FullName;
        var daemons = new List<Daemon>();
        try
        {
            daemons.Add(await Daemon.StartAsync(bin, Path.Combine(work, "a"), "mvbencha"));
            daemons.Add(await Daemon.StartAsync(bin, Path.Combine(work, "b"), "mvbenchb"));
            Console.WriteLine($"two stratad from {bin}; host {Environment.ProcessorCount} CPUs, load {HostLoad.Now()}");
            await daemons[0].Client.BuildBaseImageAsync("busybox");
            var moves = new List<(MoveResult Result, double GuestGapMs, double LargestGapMs, double WallSeconds)>();
            await CreateAsync(daemons[0].Client, Counter);
            for (var i = 0; i < rounds; i++)
            {
                var (from, to) = i % 2 == 0 ? (daemons[0], daemons[1]) : (daemons[1], daemons[0]);
                var move = await MoveAsync(from, to, bandwidth: null);
                moves.Add(move);
                Console.WriteLine($"move {i + 1} {from.Node} -> {to.Node}: {Describe(move)}; load {HostLoad.Now()}");
            }
            var last = rounds % 2 == 0 ? daemons[0] : daemons[1];
            await last.Client.DeleteAsync(Name, force: true);
            if (rounds > 0)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"idle 256 MiB VM, median of {rounds}: guest-seen downtime {Median(moves.Select(m => m.GuestGapMs)):0} ms (largest gap {Median(moves.Select(m => m.LargestGapMs)):0} ms), whole move {Median(moves.Select(m => m.WallSeconds)):0.00} s (engine {Median(moves.Select(m => m.Result.TotalSeconds)):0.00} s), QEMU downtime {Median(moves.Select(m => m.Result.DowntimeMs)):0} ms, sent {Median(moves.Select(m => (m.Result.RamBytes + m.Result.DiskBytes) / 1048576.0)):0} MiB"));
            }
            Console.WriteLine($"targets: guest-seen downtime <= 300 ms, whole move <= 10 s; load {HostLoad.Now()}");

            await CreateAsync(daemons[0].Client, Dirtier);
            try
            {
                var dirty = await MoveAsync(daemons[0], daemons[1], bandwidth: "32M");
                Console.WriteLine($"dirtying VM over 32 MiB/s, auto-converge: converged: {Describe(dirty)}; load {HostLoad.Now()}");
                await daemons[1].Client.DeleteAsync(Name, force: true);
            }
            catch (InvalidOperationException e)
            {
                Console.WriteLine($"dirtying VM over 32 MiB/s, auto-converge: did not converge: {e.Message}; load {HostLoad.Now()}");
                await daemons[0].Client.DeleteAsync(Name, force: true);
            }
            return 0;
        }
        finally
        {
            foreach (var d in daemons)
            {
                await d.DisposeAsync();
            }
            Directory.Delete(work, true);
        }
    }

    private static Task CreateAsync(StrataClient client, string script) => MigrationBench.CreateAsync(client, Name, script, 256L << 20);

    /// <summary>One move measured by <see cref="MigrationBench.MoveAsync"/>, with the source's <c>moved</c> event printed.</summary>
    private static async Task<(MoveResult, double, double, double)> MoveAsync(Daemon from, Daemon to, string? bandwidth)
    {
        using var stop = new CancellationTokenSource();
        var events = new List<InstanceEvent>();
        var listen = Task.Run(async () =>
        {
            try
            {
                await foreach (var e in from.Client.EventsAsync(stop.Token))
                {
                    lock (events)
                    {
                        events.Add(e);
                    }
                }
            }
            catch (Exception e) when (e is StrataApiException or OperationCanceledException or HttpRequestException or IOException)
            {
            }
        });
        try
        {
            var (move, result) = await MigrationBench.MoveAsync(from.Side, to.Side, Name, bandwidth, 0);
            lock (events)
            {
                var moved = events.LastOrDefault(e => e.Type == "moved" && e.Instance == Name);
                Console.WriteLine($"  the source's moved event: {moved?.Reason ?? "(none received)"}");
            }
            return (result, move.GuestDowntimeMs, move.LargestGapMs, move.WholeMoveSeconds);
        }
        finally
        {
            await stop.CancelAsync();
            await listen;
        }
    }

    private static string Describe((MoveResult Result, double GuestGapMs, double LargestGapMs, double WallSeconds) m) => string.Create(CultureInfo.InvariantCulture,
        $"guest-seen downtime {m.GuestGapMs:0} ms (largest gap {m.LargestGapMs:0} ms), whole move {m.WallSeconds:0.00} s (engine {m.Result.TotalSeconds:0.00} s), QEMU downtime {m.Result.DowntimeMs:0} ms, RAM {m.Result.RamBytes / 1048576.0:0.0} MiB, disk {m.Result.DiskBytes / 1048576.0:0.0} MiB processed, {m.Result.Iterations} passes, throttle up to {m.Result.MaxThrottlePercent} %");

    private static double Median(IEnumerable<double> values) => BenchStatistics.Median(values);

    /// <summary>One published stratad on its own root, socket and loopback port.</summary>
    internal sealed class Daemon : IAsyncDisposable
    {
        private readonly Process _process;

        private Daemon(Process process, string root, string socket, string node, int port)
        {
            _process = process;
            Root = root;
            Node = node;
            Address = $"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}";
            Client = new StrataClient(new ClientOptions { Socket = socket });
        }

        public string Root { get; }
        public string Node { get; }
        public string Address { get; }
        public StrataClient Client { get; }
        public string Token => File.ReadAllText(Path.Combine(Root, "admin.token")).Trim();
        public MigrationSide Side => new(Node, Client, new MoveRequest { ToAddress = Address, ToToken = Token });

        public static async Task<Daemon> StartAsync(string bin, string dir, string node)
        {
            Directory.CreateDirectory(dir);
            var root = Path.Combine(dir, "root");
            var socket = Path.Combine(dir, "s.sock");
            var port = FreePort();
            var process = Process.Start(new ProcessStartInfo(Path.Combine(bin, "stratad"))
            {
                ArgumentList = { "--root", root, "--socket", socket, "--node", node, "--no-docker-socket", "--log-max-size", "4M",
                    "--listen", $"127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}" },
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            })!;
            _ = process.StandardOutput.ReadToEndAsync();
            _ = process.StandardError.ReadToEndAsync();
            var daemon = new Daemon(process, root, socket, node, port);
            var deadline = Stopwatch.StartNew();
            while (true)
            {
                try
                {
                    await daemon.Client.InfoAsync();
                    return daemon;
                }
                catch (Exception e) when ((e is DaemonUnreachableException or HttpRequestException or IOException) && deadline.Elapsed < TimeSpan.FromMinutes(2) && !process.HasExited)
                {
                    await Task.Delay(100);
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            try
            {
                foreach (var i in (await Client.ListAsync()).Items)
                {
                    await Client.DeleteAsync(i.Name, force: true);
                }
            }
            catch (Exception e) when (e is StrataApiException or DaemonUnreachableException or HttpRequestException)
            {
            }
            Client.Dispose();
            if (!_process.HasExited)
            {
                _process.Kill();
                await _process.WaitForExitAsync();
            }
            _process.Dispose();
        }

        private static int FreePort()
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            return ((IPEndPoint)listener.LocalEndpoint).Port;
        }
    }
}
