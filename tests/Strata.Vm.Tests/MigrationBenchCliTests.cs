using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text.Json;
using Strata.Client;
using Strata.Testing;
using Xunit.Abstractions;

namespace Strata.Vm.Tests;

/// <summary>
/// <c>strata bench --migration --json</c> through the published CLI between two published stratad on one host (both
/// listening on loopback, real QEMU under TCG): two live moves of the idle busybox VM, there and back, each with a
/// guest-seen downtime above zero and below the whole move, RAM and disk bytes sent, and their medians; afterwards
/// neither daemon keeps the VM.
/// </summary>
public sealed class MigrationBenchCliTests(ITestOutputHelper output)
{
    private static readonly string s_tag = string.Concat(Enumerable.Range(0, 4).Select(_ => (char)('a' + Random.Shared.Next(26))));

    [SkippableFact]
    public async Task BenchMigration_TwoMoves_ReportsRealDowntimesAndBytes_AndLeavesNoInstance()
    {
        VmDaemon.RequireBinaries();
        using var dir = new TempDirectory("mv31bench");
        var ports = (Free(), Free());
        var a = (Root: dir.Combine("a"), Socket: dir.Combine("a.sock"), Address: $"http://127.0.0.1:{ports.Item1.ToString(CultureInfo.InvariantCulture)}");
        var b = (Root: dir.Combine("b"), Socket: dir.Combine("b.sock"), Address: $"http://127.0.0.1:{ports.Item2.ToString(CultureInfo.InvariantCulture)}");
        Process? source = null;
        Process? target = null;
        try
        {
            source = await PublishedDaemon.StartAsync(a.Socket, ["--root", a.Root, "--socket", a.Socket, "--node", $"mv31b{s_tag}a", "--no-docker-socket", "--log-max-size", "1M", "--listen", a.Address[7..]]);
            target = await PublishedDaemon.StartAsync(b.Socket, ["--root", b.Root, "--socket", b.Socket, "--node", $"mv31b{s_tag}b", "--no-docker-socket", "--log-max-size", "1M", "--listen", b.Address[7..]]);
            using var here = new StrataClient(new ClientOptions { Socket = a.Socket });
            using var there = new StrataClient(new ClientOptions { Socket = b.Socket });
            await here.BuildBaseImageAsync("busybox");
            var token = File.ReadAllText(Path.Combine(b.Root, "admin.token")).Trim();

            var (code, stdout, stderr) = Cli(a.Socket, "bench", "--migration", "--moves", "2", "--to-address", b.Address, "--to-token", token, "--from-address", a.Address, "--json");
            Assert.True(code == 0, $"strata bench --migration exited {code}: {stderr}");
            output.WriteLine(stderr);
            output.WriteLine(stdout);
            using var doc = JsonDocument.Parse(stdout);
            var report = doc.RootElement;
            var moves = report.GetProperty("moves").EnumerateArray().ToList();
            Assert.Equal(2, moves.Count);
            foreach (var move in moves)
            {
                var downtime = move.GetProperty("guestDowntimeMs").GetDouble();
                var whole = move.GetProperty("wholeMoveSeconds").GetDouble() * 1000;
                Assert.InRange(downtime, 0.001, whole);
                Assert.True(move.GetProperty("largestGapMs").GetDouble() >= downtime, move.ToString());
                // QEMU's own figure: 0 is a value it reports for an idle guest (seen here under TCG), never above the whole move.
                Assert.InRange(move.GetProperty("qemuDowntimeMs").GetDouble(), 0, whole);
                Assert.True(move.GetProperty("ramBytes").GetInt64() > 1 << 20, move.ToString());
                Assert.True(move.GetProperty("diskBytes").GetInt64() > 0, move.ToString());
            }
            Assert.Equal(["here", b.Address[7..]], moves.Select(m => m.GetProperty("from").GetString()));
            var median = report.GetProperty("medianGuestDowntimeMs").GetDouble();
            Assert.Equal(moves.Average(m => m.GetProperty("guestDowntimeMs").GetDouble()), median, 0.01);
            Assert.True(report.GetProperty("medianWholeMoveSeconds").GetDouble() > 0);
            Assert.True(report.GetProperty("medianRamBytes").GetDouble() > 0);
            Assert.Equal(256L << 20, report.GetProperty("memoryBytes").GetInt64());
            Assert.Contains("move 2/2", stderr, StringComparison.Ordinal);

            Assert.Empty((await here.ListAsync()).Items);
            Assert.Empty((await there.ListAsync()).Items);
            Assert.True(await TestEnvironment.EventuallyAsync(() => !VmMoveTests.QemuOf(a.Root) && !VmMoveTests.QemuOf(b.Root), TimeSpan.FromSeconds(30)),
                "a QEMU of either daemon still runs after the bench");
        }
        finally
        {
            foreach (var (daemon, socket) in new[] { (source, a.Socket), (target, b.Socket) })
            {
                if (daemon is null)
                {
                    continue;
                }
                try
                {
                    using var client = new StrataClient(new ClientOptions { Socket = socket });
                    foreach (var i in (await client.ListAsync()).Items)
                    {
                        await client.DeleteAsync(i.Name, force: true);
                    }
                }
                catch (Exception e) when (e is StrataApiException or DaemonUnreachableException or HttpRequestException)
                {
                }
                TestEnvironment.Exec("kill", ["-TERM", daemon.Id.ToString(CultureInfo.InvariantCulture)]);
                if (!daemon.WaitForExit(TimeSpan.FromSeconds(30)))
                {
                    daemon.Kill();
                }
                daemon.Dispose();
            }
        }
    }

    private static (int ExitCode, string Stdout, string Stderr) Cli(string socket, params string[] args)
    {
        var psi = new ProcessStartInfo(VmDaemon.Cli) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.Environment["STRATA_SOCKET"] = socket;
        foreach (var arg in args)
        {
            psi.ArgumentList.Add(arg);
        }
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TestEnvironment.Scaled(TimeSpan.FromMinutes(8))))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"strata {string.Join(' ', args)} did not finish: {stderr.Result}");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    private static int Free()
    {
        using var listener = new TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
