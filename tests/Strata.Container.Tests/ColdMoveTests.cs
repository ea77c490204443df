using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Strata.Client;
using Strata.Contracts;
using Strata.Node;
using Strata.Testing;

namespace Strata.Container.Tests;

/// <summary>
/// <c>strata move --cold</c> between two published stratad on one host (their own --root, --socket, --node; the
/// target on loopback TCP): a runc container on a network with a published port, a stepped wasm module and a
/// process. A move the target cannot take (no network of that name there) leaves the container running here and
/// nothing there; the real move serves the same layer on the same port from the target and leaves nothing of it on
/// the source (record, directory, cgroup, veth, rules, mounts, processes). A second project's token gets 404 and
/// changes nothing.
/// </summary>
[Collection(ContainerCollection.Name)]
public sealed class ColdMoveTests(ContainerFixture fx)
{
    private static readonly string s_tag = string.Concat(Enumerable.Range(0, 4).Select(_ => (char)('a' + Random.Shared.Next(26))));
    private static readonly int s_octet = Random.Shared.Next(20, 240);

    /// <summary>A stepped counter that prints only every 262,144th step, so its log stays small while it runs fast.</summary>
    private const string SparseCounter = """
        (module
          (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (global $count (export "count") (mut i32) (i32.const 0))
          (func $print (param $n i32) (local $p i32)
            (i32.store8 (i32.const 100) (i32.const 10))
            (local.set $p (i32.const 100))
            (loop $d
              (local.set $p (i32.sub (local.get $p) (i32.const 1)))
              (i32.store8 (local.get $p) (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
              (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
              (br_if $d (i32.ne (local.get $n) (i32.const 0))))
            (i32.store (i32.const 0) (local.get $p))
            (i32.store (i32.const 4) (i32.sub (i32.const 101) (local.get $p)))
            (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
          (func (export "strata_step") (result i32)
            (global.set $count (i32.add (global.get $count) (i32.const 1)))
            (if (i32.eqz (i32.and (global.get $count) (i32.const 262143)))
              (then (call $print (global.get $count))))
            (i32.const -1)))
        """;

    private sealed record Node(string Label, NodeScope Scope, string Root, string Socket, string Subnet)
    {
        public Process? Daemon { get; set; }
        public StrataClient Client { get; set; } = null!;
        public string AddressPrefix => Subnet[..(Subnet.LastIndexOf('.') + 1)];
        public NodeCensus Census() => NodeCensus.Capture(Scope, Root, [AddressPrefix]);
    }

    [SkippableFact]
    public async Task ColdMove_ContainerWithPublishedPort_WasmAndProcess_ArriveOnTheTarget_AndLeaveNothingHere()
    {
        fx.RequireEngine();
        _ = PublishedDaemon.Binary;
        _ = TestEnvironment.RequireArtifact("strata");
        var a = new Node("a", new NodeScope($"mv20a{s_tag}a"), Path.Combine(fx.Root, "cold-a"), Path.Combine(fx.Root, "cold-a.sock"), $"10.219.{s_octet}.0/24");
        var b = new Node("b", new NodeScope($"mv20a{s_tag}b"), Path.Combine(fx.Root, "cold-b"), Path.Combine(fx.Root, "cold-b.sock"), $"10.219.{s_octet + 1}.0/24");
        var targetPort = TestEnvironment.FreeLoopbackPort();
        var hostPort = NetworkCensus.FreePort();
        var wat = Path.Combine(fx.Root, $"mv20a-counter-{s_tag}.wat");
        await File.WriteAllTextAsync(wat, SparseCounter);
        try
        {
            await StartAsync(a, null);
            await StartAsync(b, targetPort);
            var targetAddress = $"http://127.0.0.1:{targetPort.ToString(CultureInfo.InvariantCulture)}";
            var targetToken = File.ReadAllText(Path.Combine(b.Root, "admin.token")).Trim();
            var source = a.Client;
            var target = b.Client;
            await source.CreateNetworkAsync(new CreateNetworkRequest { Name = "apps", Subnet = a.Subnet });
            var baseline = a.Census();

            // The layer's token is made at the first start; a later start (here or there) serves it only if the layer moved.
            await source.CreateAsync(new InstanceSpec
            {
                Tier = "container", Image = "busybox", Name = "web", Network = "apps",
                Ports = [PortSpec.Parse($"127.0.0.1:{hostPort.ToString(CultureInfo.InvariantCulture)}:80")],
                Args = ["sh", "-c", "mkdir -p /w; [ -f /w/first ] || cat /proc/sys/kernel/random/uuid > /w/first; cp /w/first /w/index.html; exec httpd -f -p 80 -h /w"],
            });
            var layerToken = await GetAsync(hostPort, TimeSpan.FromSeconds(30));
            Assert.Matches("^[0-9a-f-]{36}\n$", layerToken);
            await source.CreateAsync(new InstanceSpec { Tier = "wasm", Image = wat, Name = "counter" });
            await source.CreateAsync(new InstanceSpec { Tier = "process", Name = "sleeper", Args = ["sleep", "600"] });
            var web = await source.GetAsync("web");

            // A second project's token: none of them is there for it, and nothing changes.
            await source.CreateProjectAsync(new CreateProjectRequest { Name = "mv20aother" });
            using (var other = new StrataClient(new ClientOptions { Socket = a.Socket, Token = (await source.CreateTokenAsync("mv20aother", "admin")).Token! }))
            {
                foreach (var name in new[] { "web", "counter", "sleeper" })
                {
                    var refused = await Assert.ThrowsAsync<StrataApiException>(() =>
                        other.MoveAsync(name, new MoveRequest { ToAddress = targetAddress, ToToken = targetToken, Mode = "cold" }));
                    Assert.Equal(404, refused.Status);
                }
                Assert.DoesNotContain((await other.ListOperationsAsync()).Items, o => o.Kind == "move");
            }
            Assert.Equal(web.StartedAt, (await source.GetAsync("web")).StartedAt);
            Assert.Empty((await target.ListAsync()).Items);

            // Live on a tier that cannot: refused with the reason, before anything stops.
            var live = await Assert.ThrowsAsync<StrataApiException>(() =>
                source.MoveAsync("web", new MoveRequest { ToAddress = targetAddress, ToToken = targetToken, Mode = "live" }));
            Assert.Equal(400, live.Status);
            Assert.Contains("CRIU is unavailable on this node because", live.Message, StringComparison.Ordinal);
            var liveProcess = await Assert.ThrowsAsync<StrataApiException>(() =>
                source.MoveAsync("sleeper", new MoveRequest { ToAddress = targetAddress, ToToken = targetToken, Mode = "live" }));
            Assert.Contains("started afresh on the target", liveProcess.Message, StringComparison.Ordinal);

            // The target has no network "apps": the move fails there after the stop; the container runs here again, on its layer.
            var failed = await WaitAsync(source, await source.MoveAsync("web", new MoveRequest { ToAddress = targetAddress, ToToken = targetToken }));
            Assert.Equal(OperationStatusNames.Failed, failed.Status);
            Assert.Contains("apps", failed.Error!.Detail, StringComparison.Ordinal);
            Assert.Equal("running", (await source.GetAsync("web")).State);
            Assert.Equal(layerToken, await GetAsync(hostPort, TimeSpan.FromSeconds(30)));
            Assert.Empty((await target.ListAsync()).Items);
            Assert.True(!Directory.Exists(Path.Combine(b.Root, "instances")) || Directory.GetDirectories(Path.Combine(b.Root, "instances")).Length == 0,
                "the target kept a directory of the failed move");

            // The real move (no mode: a container moves cold).
            await target.CreateNetworkAsync(new CreateNetworkRequest { Name = "apps", Subnet = b.Subnet });
            var moved = await WaitAsync(source, await source.MoveAsync("web", new MoveRequest { ToAddress = targetAddress, ToToken = targetToken }));
            Assert.True(moved.Status == OperationStatusNames.Succeeded, moved.Error?.Detail);
            var result = moved.Result!.Value.Deserialize(StrataJsonContext.Default.MoveResult)!;
            Assert.Equal("cold", result.Mode);
            Assert.Contains("writable layer", result.Carried, StringComparison.Ordinal);
            Assert.Contains(moved.Progress.Items, i => i.Id == "move" && i.Phase == "completed");
            var arrived = await target.GetAsync("web");
            Assert.Equal("running", arrived.State);
            Assert.Equal(layerToken, await GetAsync(hostPort, TimeSpan.FromSeconds(30)));
            var gone = await Assert.ThrowsAsync<StrataApiException>(() => source.GetAsync("web"));
            Assert.Equal(404, gone.Status);
            Assert.False(Directory.Exists(Path.Combine(a.Root, "instances", web.Id)), "the source kept the container's directory");

            // The wasm module, through the CLI: it goes on counting from where it was, not from the start.
            await WaitForAsync(async () => Counts(await LogsAsync(source, "counter")).LastOrDefault() >= 3 * 262144, "the counter never reached 3 prints");
            // A move the target refuses (a token it does not take) after the capture and the stop: the module runs here
            // again from the captured memory, so its count never goes back.
            var refusedByTarget = await WaitAsync(source, await source.MoveAsync("counter", new MoveRequest { ToAddress = targetAddress, ToToken = new string('0', 64) }));
            Assert.Equal(OperationStatusNames.Failed, refusedByTarget.Status);
            Assert.Contains("the target daemon", refusedByTarget.Error!.Detail, StringComparison.Ordinal);
            Assert.Equal("running", (await source.GetAsync("counter")).State);
            var beforeRefusal = Counts(await LogsAsync(source, "counter")).Count;
            await WaitForAsync(async () => Counts(await LogsAsync(source, "counter")).Count >= beforeRefusal + 2, "the counter did not run again after the refused move");
            var sequence = Counts(await LogsAsync(source, "counter"));
            // Strictly: the capture holds the module at its step until the stop, so no step runs twice (here and again from the capture).
            Assert.True(sequence.Zip(sequence.Skip(1)).All(p => p.Second > p.First), "the counter went back or repeated a print after the refused move: " + string.Join(" ", sequence));
            var lastHere = Counts(await LogsAsync(source, "counter")).Last();
            var (code, stdout, stderr) = PublishedCli.Run(a.Socket, TimeSpan.FromSeconds(300), "move", "counter", "--to-address", targetAddress, "--to-token", targetToken, "--cold", "--json");
            Assert.True(code == 0, stderr + stdout);
            using (var doc = JsonDocument.Parse(stdout))
            {
                Assert.Equal("succeeded", doc.RootElement.GetProperty("status").GetString());
                Assert.Contains("memory", doc.RootElement.GetProperty("result").GetProperty("carried").GetString(), StringComparison.Ordinal);
            }
            await WaitForAsync(async () => Counts(await LogsAsync(target, "counter")).Count > 0, "the moved counter printed nothing on the target");
            var firstThere = Counts(await LogsAsync(target, "counter")).First();
            Assert.True(firstThere > lastHere, $"the counter restarted on the target: it printed {firstThere} first, after {lastHere} here");

            // An exited container moves with its layer and stays not started there; its next start finds the file.
            await source.CreateAsync(new InstanceSpec
            {
                Tier = "container", Image = "busybox", Name = "note",
                Args = ["sh", "-c", "if [ -f /note ]; then cat /note; else echo layer-$(cat /proc/sys/kernel/random/uuid) > /note; echo wrote; fi"],
            });
            await source.WaitAsync("note");
            var parked = await WaitAsync(source, await source.MoveAsync("note", new MoveRequest { ToAddress = targetAddress, ToToken = targetToken, Mode = "cold" }));
            Assert.True(parked.Status == OperationStatusNames.Succeeded, parked.Error?.Detail);
            Assert.Equal("created", (await target.GetAsync("note")).State);
            await target.StartAsync("note");
            await target.WaitAsync("note");
            Assert.Matches("^layer-[0-9a-f-]{36}\n$", await LogsAsync(target, "note"));

            // A process restarts, said plainly.
            var process = await WaitAsync(source, await source.MoveAsync("sleeper", new MoveRequest { ToAddress = targetAddress, ToToken = targetToken, Mode = "cold" }));
            Assert.True(process.Status == OperationStatusNames.Succeeded, process.Error?.Detail);
            Assert.Contains("restarts", process.Result!.Value.Deserialize(StrataJsonContext.Default.MoveResult)!.Carried, StringComparison.Ordinal);
            Assert.Equal("running", (await target.GetAsync("sleeper")).State);

            // Nothing of the three is left on the source: no veth on the network's bridge, no rule for the port, no
            // instance directory; the network (refused while it has members) goes, and the host is as it was before.
            Assert.Empty((await source.ListAsync()).Items);
            Assert.Empty(Directory.GetDirectories(Path.Combine(a.Root, "instances")));
            var moved0 = a.Census();
            Assert.All(moved0.Links, l => Assert.StartsWith(a.Scope.BridgePrefix, l, StringComparison.Ordinal));
            Assert.DoesNotContain(moved0.Rules, r => r.Contains(hostPort.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal));
            await source.RemoveNetworkAsync("apps");
            Assert.True(await TestEnvironment.EventuallyAsync(() => SameAs(baseline, a.Census()), TimeSpan.FromSeconds(20)),
                $"the source left host objects behind:\nbefore: {baseline}\nafter: {a.Census()}");
        }
        finally
        {
            foreach (var node in new[] { a, b })
            {
                await CleanUpAsync(node);
            }
            File.Delete(wat);
        }
    }

    private static bool SameAs(NodeCensus x, NodeCensus y) =>
        x.Links.SetEquals(y.Links) && x.Cgroups.SetEquals(y.Cgroups) && x.Rules.SetEquals(y.Rules) && x.Mounts.SetEquals(y.Mounts)
        && x.Namespaces.SetEquals(y.Namespaces) && x.Processes.SetEquals(y.Processes);

    private async Task StartAsync(Node node, int? listen)
    {
        node.Daemon = await ColdMoveModesTests.StartDaemonAsync(fx, node.Root, node.Scope.Name, listen, ["--no-docker-socket"]);
        node.Client = new StrataClient(new ClientOptions { Socket = node.Socket });
    }

    private static async Task CleanUpAsync(Node node)
    {
        if (node.Daemon is null)
        {
            return;
        }
        await PublishedDaemon.RemoveInstancesAsync(node.Client);
        try
        {
            foreach (var network in (await node.Client.ListNetworksAsync()).Items.Where(n => n.Name == "apps"))
            {
                await node.Client.RemoveNetworkAsync(network.Name);
            }
        }
        catch (Exception e) when (e is StrataApiException or HttpRequestException or IOException)
        {
        }
        node.Client.Dispose();
        await PublishedDaemon.StopAsync(node.Daemon, TimeSpan.FromSeconds(60), killIfItHangs: false);
        node.Daemon = null;
    }

    private static async Task<OperationInfo> WaitAsync(StrataClient client, OperationInfo operation)
    {
        var info = operation;
        while (!OperationStatusNames.IsFinished(info.Status))
        {
            info = await client.WaitOperationAsync(operation.Id, TimeSpan.FromSeconds(30));
        }
        return info;
    }

    private static async Task<string> GetAsync(int port, TimeSpan timeout)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(3) };
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                return await http.GetStringAsync($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}/index.html");
            }
            catch (Exception e) when ((e is HttpRequestException or TaskCanceledException) && DateTime.UtcNow < deadline)
            {
                await Task.Delay(200);
            }
        }
    }

    private static async Task<string> LogsAsync(StrataClient client, string name)
    {
        var text = new StringBuilder();
        await foreach (var frame in client.LogsAsync(name))
        {
            if (frame.Log is { } log)
            {
                text.Append(log.Text).Append(log.Partial ? "" : "\n");
            }
        }
        return text.ToString();
    }

    private static List<long> Counts(string log) =>
        [.. log.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => long.TryParse(l.Trim(), out var n) ? n : -1).Where(n => n >= 0)];

    private static async Task WaitForAsync(Func<Task<bool>> condition, string failure)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(120);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, failure);
            await Task.Delay(250);
        }
    }
}
