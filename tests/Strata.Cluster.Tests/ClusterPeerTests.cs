using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using Strata.Client;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Testing;

namespace Strata.Cluster.Tests;

/// <summary>
/// Three published daemons that share a cluster token, one of them (c19a) serving its API over TLS: a daemon
/// with another token is refused; requests about an instance reach its node from any node (stop, start, logs,
/// through TLS with the pinned certificate); projects, quotas and tokens made on one node hold on every node; a
/// second project's token sees and touches nothing of the first's, on any node.
/// </summary>
[Collection(EtcdCollection.Name)]
public sealed class ClusterPeerTests(EtcdCluster etcd) : IAsyncLifetime
{
    private readonly ClusterDaemons _cluster = new(etcd, "strata-c19");

    public async Task InitializeAsync()
    {
        _ = PublishedDaemon.Binary; // skips (fails under CI) when stratad is not published
        await using (var h = new ClusterHarness(etcd))
        {
            await h.WipeAsync();
        }
        // Every node serves a busybox root filesystem as image c19box, for the container test.
        var busybox = Strata.Node.Drivers.Container.OciRuntime.StaticBusybox();
        List<string> images = [];
        if (busybox is not null)
        {
            BusyboxRootfs.Build(busybox, Path.Combine(_cluster.Dir, "busybox"));
            images = ["--image", "c19box=" + Path.Combine(_cluster.Dir, "busybox")];
            _busybox = true;
        }
        await _cluster.StartAsync("c19a", tls: true, images);
        await _cluster.StartAsync("c19b", extra: images);
        await _cluster.StartAsync("c19c", extra: images);
    }

    private bool _busybox;

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    private static InstanceSpec Echo(string name, string node) => new()
    {
        Name = name,
        Tier = "fake",
        Args = ["echo", "c19 hello from " + node],
        Resources = new ResourceSpec { Cpus = 0.1, MemoryBytes = 32L << 20 },
        Labels = new Dictionary<string, string> { ["strata.cluster/node"] = node },
    };

    [SkippableFact]
    public async Task ADaemonWithAnotherToken_IsRefusedWithTheReason_AndSoAreItsForwardedRequests()
    {
        var wrong = _cluster.WriteToken("wrong.token", "c19-not-the-cluster-token-0123456789abcdef");
        var intruder = await ChildProcess.RunAsync(PublishedDaemon.Binary, _cluster.Arguments("c19x", TestEnvironment.FreeLoopbackPort(), wrong), TimeSpan.FromMinutes(2));
        Assert.Equal(1, intruder.ExitCode);
        Assert.Contains($"the cluster token in {wrong} is not this cluster's", intruder.Stderr, StringComparison.Ordinal);
        Assert.Contains("cannot join", intruder.Stderr, StringComparison.Ordinal);
        // It wrote nothing: no node record, and the other nodes never list it.
        Assert.DoesNotContain("c19x", await _cluster.Nodes[1].Socket.NodesJsonAsync(), StringComparison.Ordinal);

        // A request that claims to be forwarded by a node, with a token that is not the cluster's: 401 with the reason.
        using var http = new HttpClient();
        using var forged = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{_cluster.Nodes[1].Port}/v1/instances");
        forged.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "c19-not-the-cluster-token-0123456789abcdef");
        forged.Headers.Add("X-Strata-Forwarded-Caller", "default;admin;host;");
        forged.Headers.Add("X-Strata-Forwarded-By", "c19x");
        using var refused = await http.SendAsync(forged);
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        var problem = System.Text.Json.JsonDocument.Parse(await refused.Content.ReadAsStringAsync()).RootElement.GetProperty("detail").GetString();
        Assert.Contains("forwarded by node c19x carries a cluster token that is not this cluster's", problem, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task ProjectsAndTokens_HoldOnEveryNode_AndRequestsReachTheOwningNodeFromAnyNode()
    {
        var (a, b, c) = (_cluster.Nodes[0], _cluster.Nodes[1], _cluster.Nodes[2]);
        Assert.True(await TestEnvironment.EventuallyAsync(() => b.Socket.NodesJsonAsync().GetAwaiter().GetResult().Split("\"online\"").Length == 4,
            TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(200)), "three nodes did not come online");
        var tiers = new ProjectRestrictions { AllowedTiers = ["fake", "container"] };
        // Projects made on two different nodes, tokens on a third: all in etcd.
        await b.Socket.CreateProjectAsync(new CreateProjectRequest { Name = "c19p1", Restrictions = tiers });
        await c.Socket.CreateProjectAsync(new CreateProjectRequest { Name = "c19p2", Restrictions = tiers, Quota = new ProjectQuota { Instances = 1 } });
        var one = (await a.Socket.CreateTokenAsync("c19p1", ProjectRoles.Operator, "c19")).Token!;
        var twoToken = await b.Socket.CreateTokenAsync("c19p2", ProjectRoles.Operator, "c19");
        using var oneOnB = b.Tcp(one);
        using var oneOnC = c.Tcp(one);
        using var twoOnB = b.Tcp(twoToken.Token!);
        using var twoOnC = c.Tcp(twoToken.Token!);
        // A token made on a is accepted by b and c as soon as their views follow etcd.
        Assert.True(await TestEnvironment.EventuallyAsync(() => ClusterDaemons.Works(() => oneOnC.ListAsync()) && ClusterDaemons.Works(() => twoOnC.ListAsync()),
            TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(50)), "a token made on one node did not work on another");

        // Created through c, placed on a (TLS): b relays logs, c relays stop, b relays start, all to a over HTTPS.
        var created = await oneOnC.CreateAsync(Echo("c19-echo", "c19a"));
        Assert.Equal("c19a", created.Details!["node"]);
        // Listed at once on the other nodes (their list caches wait for etcd's revision), never to the second project.
        Assert.Contains("c19-echo", (await oneOnB.ListAsync()).Items.Select(i => i.Name));
        Assert.Contains("c19-echo", (await oneOnC.ListAsync()).Items.Select(i => i.Name));
        Assert.Empty((await twoOnC.ListAsync()).Items);
        Assert.True(await TestEnvironment.EventuallyAsync(() => Logs(oneOnB, "c19-echo").Contains("c19 hello from c19a", StringComparison.Ordinal),
            TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(200)), "logs were not relayed from the owning node");
        await oneOnB.CreateAsync(Echo("c19-sleep", "c19a") with { Args = ["sleep"] });
        Assert.True(await TestEnvironment.EventuallyAsync(() => oneOnC.GetAsync("c19-sleep").GetAwaiter().GetResult().State == "running",
            TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(100)));
        Assert.NotEqual("running", (await oneOnC.StopAsync("c19-sleep")).State);
        Assert.Equal("running", (await oneOnB.StartAsync("c19-sleep")).State);

        // The second project, on any node: the instance does not exist for it, and nothing reaches node a.
        foreach (var two in new[] { twoOnB, twoOnC })
        {
            Assert.Empty((await two.ListAsync()).Items);
            Assert.Equal(404, (await Assert.ThrowsAsync<StrataApiException>(() => two.GetAsync("c19-echo"))).Status);
            Assert.Equal(404, (await Assert.ThrowsAsync<StrataApiException>(() => two.StopAsync("c19-echo"))).Status);
            Assert.Equal(404, (await Assert.ThrowsAsync<StrataApiException>(() => Drain(two.LogsAsync("c19-echo")))).Status);
            Assert.Equal(404, (await Assert.ThrowsAsync<StrataApiException>(() => two.DeleteAsync("c19-echo", force: true))).Status);
        }
        Assert.Equal("c19-echo", (await oneOnB.GetAsync("c19-echo")).Name);

        // Its restrictions hold at admission on any node: a tier it may not use is refused, and nothing is counted.
        var forbidden = await Assert.ThrowsAsync<StrataApiException>(() => twoOnC.CreateAsync(Echo("c19-proc", "c19c") with { Tier = "process", Args = ["/bin/true"] }));
        Assert.Equal(403, forbidden.Status);
        Assert.Contains("may not use tier process", forbidden.Message, StringComparison.Ordinal);
        Assert.Equal(0, (await a.Socket.GetProjectAsync("c19p2")).Usage!.Instances);

        // The quota set on c holds through every node: one instance of c19p2, the next refused wherever it is asked.
        await twoOnB.CreateAsync(Echo("c19-q1", "c19b"));
        var over = await Assert.ThrowsAsync<StrataApiException>(() => twoOnC.CreateAsync(Echo("c19-q2", "c19c")));
        Assert.Contains("quota", over.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(1, (await a.Socket.GetProjectAsync("c19p2")).Usage!.Instances);

        // A project with instances on any node cannot be removed from another; a token revoked on b is refused on c.
        Assert.Equal(409, (await Assert.ThrowsAsync<StrataApiException>(() => a.Socket.DeleteProjectAsync("c19p2"))).Status);
        await b.Socket.RevokeTokenAsync("c19p2", twoToken.Id);
        Assert.True(await TestEnvironment.EventuallyAsync(() => !ClusterDaemons.Works(() => twoOnC.ListAsync()), TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(20)),
            "a token revoked on one node still worked on another");
        Assert.Equal(401, (await Assert.ThrowsAsync<StrataApiException>(() => twoOnB.ListAsync())).Status);
    }

    [SkippableFact]
    public async Task AContainerOnATlsNode_StreamsLogsAndTakesAnExecShell_ThroughAnotherNode()
    {
        var (a, b) = (_cluster.Nodes[0], _cluster.Nodes[1]);
        TestEnvironment.Require(TestEnvironment.IsRoot, "the container tier needs root");
        TestEnvironment.Require(_busybox, "busybox-static is not installed (apt-get install busybox-static)");
        TestEnvironment.Require(TestEnvironment.Supervisor is not null, "strata-supervisor is not published; run scripts/publish-native.sh");
        Assert.True(await TestEnvironment.EventuallyAsync(() => a.Socket.NodeJsonAsync("c19a").GetAwaiter().GetResult().Contains("\"online\"", StringComparison.Ordinal),
            TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(200)));
        var node = await a.Socket.NodeJsonAsync("c19a");
        TestEnvironment.Require(node.Contains("\"tier\":\"container\"", StringComparison.Ordinal), "the container tier is not available on this host: " + node);

        var tiers = new ProjectRestrictions { AllowedTiers = ["container"] };
        await a.Socket.CreateProjectAsync(new CreateProjectRequest { Name = "c19p3", Restrictions = tiers });
        await a.Socket.CreateProjectAsync(new CreateProjectRequest { Name = "c19p4", Restrictions = tiers });
        using var mine = b.Tcp((await a.Socket.CreateTokenAsync("c19p3", ProjectRoles.Operator, "c19")).Token!);
        using var other = b.Tcp((await a.Socket.CreateTokenAsync("c19p4", ProjectRoles.Operator, "c19")).Token!);
        Assert.True(await TestEnvironment.EventuallyAsync(() => ClusterDaemons.Works(() => mine.ListAsync()) && ClusterDaemons.Works(() => other.ListAsync()),
            TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(50)));
        try
        {
            var created = await mine.CreateAsync(new InstanceSpec
            {
                Name = "c19-box",
                Tier = "container",
                Image = "c19box",
                Args = ["sh", "-c", "i=0; while true; do echo c19tick $i; i=$((i+1)); sleep 0.3; done"],
                Resources = new ResourceSpec { Cpus = 0.2, MemoryBytes = 64L << 20 },
                Labels = new Dictionary<string, string> { ["strata.cluster/node"] = "c19a" },
            });
            Assert.Equal("c19a", created.Details!["node"]);
            Assert.True(await TestEnvironment.EventuallyAsync(() => mine.GetAsync("c19-box").GetAwaiter().GetResult().State == "running",
                TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(200)), "the container did not run on node c19a");

            // logs -f through b: lines arrive while the container writes them (the stream never ends on its own).
            using (var cut = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
            {
                var seen = new List<(string Text, TimeSpan At)>();
                var clock = Stopwatch.StartNew();
                await foreach (var frame in mine.LogsAsync("c19-box", follow: true, ct: cut.Token))
                {
                    if (frame.Log?.Text is { } text && text.Contains("c19tick", StringComparison.Ordinal))
                    {
                        seen.Add((text, clock.Elapsed));
                    }
                    if (seen.Count >= 12)
                    {
                        break;
                    }
                }
                Assert.Equal(12, seen.Count);
                Assert.True(seen[^1].At - seen[^4].At >= TimeSpan.FromMilliseconds(500), "the followed lines came all at once, not as they were written");
            }

            // exec -i through b (a WebSocket relayed to a over wss, its certificate pinned): stdin in, stdout out, exit code.
            using (var attached = await mine.AttachExecAsync("c19-box", new ExecRequest { Command = ["sh", "-c", "cat; exit 7"] }))
            {
                using var stdout = new MemoryStream();
                using var stderr = new MemoryStream();
                var code = await attached.RunAsync(new MemoryStream("c19 ping\n"u8.ToArray()), stdout, stderr);
                Assert.Equal(7, code);
                Assert.Equal("c19 ping\n", System.Text.Encoding.UTF8.GetString(stdout.ToArray()));
            }

            // The other project's token on the same node: no logs, no shell (404 at the handshake, with the reason).
            Assert.Equal(404, (await Assert.ThrowsAsync<StrataApiException>(() => Drain(other.LogsAsync("c19-box")))).Status);
            var refused = await Assert.ThrowsAsync<StrataApiException>(() => other.AttachExecAsync("c19-box", new ExecRequest { Command = ["true"] }));
            Assert.Equal(404, refused.Status);
            Assert.Contains("c19-box", refused.Message, StringComparison.Ordinal);

            // Moved by node name off the TLS node and back onto it (asked of b, run by the instance's node): the
            // move reaches c19a over HTTPS, its certificate pinned as its node record names it. The other project cannot.
            Assert.Equal(404, (await Assert.ThrowsAsync<StrataApiException>(() => other.MoveAsync("c19-box", new MoveRequest { Node = "c19b" }))).Status);
            foreach (var to in new[] { "c19b", "c19a" })
            {
                var move = await mine.MoveAsync("c19-box", new MoveRequest { Node = to });
                var limit = Stopwatch.StartNew();
                while (!OperationStatusNames.IsFinished(move.Status) && limit.Elapsed < TimeSpan.FromMinutes(3))
                {
                    move = await mine.WaitOperationAsync(move.Id, TimeSpan.FromSeconds(30));
                }
                Assert.True(move.Status == OperationStatusNames.Succeeded, $"the move to {to} ended {move.Status}: {move.Error?.Detail}");
                Assert.Equal(to, (await mine.GetAsync("c19-box")).Details!["node"]);
                Assert.True(await TestEnvironment.EventuallyAsync(() => mine.GetAsync("c19-box").GetAwaiter().GetResult().State == "running",
                    TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(200)), $"the container did not run on node {to} after the move");
            }
            Assert.True(await TestEnvironment.EventuallyAsync(() => Logs(mine, "c19-box").Contains("c19tick", StringComparison.Ordinal),
                TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(200)), "the container moved back to the TLS node wrote nothing");
        }
        finally
        {
            try
            {
                await mine.DeleteAsync("c19-box", force: true);
            }
            catch (StrataApiException)
            {
            }
            // The owning node's agent removes the container once its assignment is gone.
            Assert.True(await TestEnvironment.EventuallyAsync(() => !ProcessCensus.Naming("c19tick").Any(), TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(200)),
                "the container still runs after its removal");
        }
    }

    private static async Task Drain(IAsyncEnumerable<StreamFrame> frames)
    {
        await foreach (var _ in frames)
        {
        }
    }

    private static string Logs(StrataClient client, string name)
    {
        var text = new System.Text.StringBuilder();
        try
        {
            var frames = client.LogsAsync(name).GetAsyncEnumerator();
            while (frames.MoveNextAsync().AsTask().GetAwaiter().GetResult())
            {
                text.Append(frames.Current.Log?.Text);
            }
        }
        catch (StrataApiException)
        {
        }
        return text.ToString();
    }
}
