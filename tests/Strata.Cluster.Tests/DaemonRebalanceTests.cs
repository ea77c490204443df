using System.Text.Json;
using Strata.Client;
using Strata.Contracts;
using Strata.Scheduler;
using Strata.Scheduler.Rebalancing;
using Strata.Testing;

namespace Strata.Cluster.Tests;

/// <summary>
/// <c>strata rebalance</c> on two published stratad nodes and the shared etcd: bin-packing leaves one node holding
/// two processes and the other nothing; the plan names the move, <c>--apply</c> carries it out by node name, and a
/// second project's token sees none of the candidates and cannot apply. The usage sampler is off, so every
/// instance is predicted at its limits (the loads do not drift with what the host is doing).
/// </summary>
[Collection(EtcdCollection.Name)]
public sealed class DaemonRebalanceTests(EtcdCluster etcd) : IAsyncLifetime
{
    private readonly ClusterDaemons _daemons = new(etcd, "rs29apply");

    public async Task InitializeAsync()
    {
        _ = PublishedDaemon.Binary; // skips (fails under CI) when stratad is not published
        await using (var h = new ClusterHarness(etcd))
        {
            await h.WipeAsync();
        }
        foreach (var node in new[] { "rb1", "rb2" })
        {
            await _daemons.StartAsync(node, extra: ["--usage-interval", "0"]);
        }
    }

    public async Task DisposeAsync() => await _daemons.DisposeAsync();

    [SkippableFact]
    public async Task AnImbalancedTwoNodeCluster_RebalanceApply_MovesOneProcess_AnotherProjectSeesNoCandidateAndCannotApply()
    {
        _ = TestEnvironment.RequireArtifact("strata");
        var first = _daemons.Nodes[0];
        Assert.True(await TestEnvironment.EventuallyAsync(() =>
            JsonDocument.Parse(first.Socket.NodesJsonAsync().GetAwaiter().GetResult()).RootElement.EnumerateArray().Count(n => n.GetProperty("status").GetString() == "online") == 2,
            TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(200)), "the two nodes were not online");
        // Each process reserves a quarter of a node's CPUs: both on one node is 50 % against 0 %.
        var cpus = Environment.ProcessorCount * 0.25;
        var names = new[] { "rs29-a", "rs29-b" };
        var created = new List<InstanceInfo>();
        foreach (var name in names)
        {
            created.Add(await first.Socket.CreateAsync(new InstanceSpec { Name = name, Tier = "process", Args = ["sleep", "600"], Resources = new ResourceSpec { Cpus = cpus, MemoryBytes = 32L << 20 } }));
        }
        var holder = created[0].Details!["node"];
        Assert.Equal(holder, created[1].Details!["node"]); // bin-pack
        var other = _daemons.Nodes.Single(n => n.Node != holder).Node;
        try
        {
            Assert.True(await TestEnvironment.EventuallyAsync(() => first.Socket.ListAsync().GetAwaiter().GetResult().Items.Count(i => i.State == "running") == 2,
                TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(200)), "the processes never ran");

            // The plan: one of them to the empty node, with the loads and why.
            var (code, stdout, stderr) = Cli(first, null, "rebalance", "--json");
            Assert.True(code == 0, stderr);
            var plan = JsonSerializer.Deserialize(stdout, SchedulerJson.Default.RebalanceDecision)!;
            Assert.Equal(RebalanceReason.Move, plan.Reason);
            Assert.Equal((holder, other), (plan.Move!.From, plan.Move.To));
            Assert.Contains(plan.Move.Instance, names);
            Assert.Equal(0.5, plan.Loads.Single(l => l.Node == holder).Load, 2);
            (code, stdout, _) = Cli(first, null, "rebalance");
            Assert.Contains($"move {plan.Move.Instance} from {holder} to {other}", stdout, StringComparison.Ordinal);
            Assert.Contains($"{holder}: predicted load 50 %", stdout, StringComparison.Ordinal);

            // A second project's token: no candidate of ours, no name, and no apply.
            await first.Socket.CreateProjectAsync(new CreateProjectRequest { Name = "rs29other" });
            var token = (await first.Socket.CreateTokenAsync("rs29other", ProjectRoles.Admin, "rs29")).Token!;
            (code, stdout, stderr) = Cli(first, token, "rebalance", "--json");
            Assert.True(code == 0, stderr);
            Assert.DoesNotContain("rs29-", stdout, StringComparison.Ordinal);
            Assert.Equal(RebalanceReason.NoQualifyingMove, JsonSerializer.Deserialize(stdout, SchedulerJson.Default.RebalanceDecision)!.Reason);
            (code, _, stderr) = Cli(first, token, "rebalance", "--apply");
            Assert.NotEqual(0, code);
            Assert.Contains("host administrators", stderr, StringComparison.Ordinal);
            using (var tenant = first.Tcp(token))
            {
                Assert.Equal(403, (await Assert.ThrowsAsync<StrataApiException>(() => tenant.ApplyRebalanceAsync())).Status);
                Assert.DoesNotContain((await tenant.ListOperationsAsync()).Items, o => o.Kind == "rebalance");
            }
            Assert.All(names, n => Assert.Equal(holder, first.Socket.GetAsync(n).GetAwaiter().GetResult().Details!["node"]));

            // --apply: exactly one moves, to the empty node, and runs there.
            (code, stdout, stderr) = Cli(first, null, "rebalance", "--apply", "--json");
            Assert.True(code == 0, $"{stdout}\n{stderr}\n{_daemons.Nodes.Single(n => n.Node == holder).LastOutput()}");
            var outcome = JsonSerializer.Deserialize(stdout, SchedulerJson.Default.RebalanceOutcome)!;
            Assert.Equal("moved", outcome.Result);
            var moved = outcome.Decision.Move!.Instance;
            Assert.Equal(other, (await first.Socket.GetAsync(moved)).Details!["node"]);
            Assert.Equal(holder, (await first.Socket.GetAsync(names.Single(n => n != moved))).Details!["node"]);
            Assert.True(await TestEnvironment.EventuallyAsync(() => first.Socket.GetAsync(moved).GetAwaiter().GetResult().State == "running",
                TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(200)), "the moved process did not run on the target");
            Assert.Contains("rebalance-moved", await first.Socket.ClusterStatusJsonAsync(), StringComparison.Ordinal);

            // Now balanced: 25 % each.
            (code, stdout, _) = Cli(first, null, "rebalance", "--json");
            Assert.Equal(RebalanceReason.Balanced, JsonSerializer.Deserialize(stdout, SchedulerJson.Default.RebalanceDecision)!.Reason);
        }
        finally
        {
            // Real processes outlive their daemons: remove them and wait until no node reports a copy.
            foreach (var name in names)
            {
                try
                {
                    await first.Socket.DeleteAsync(name, force: true);
                }
                catch (StrataApiException)
                {
                }
            }
            await using var h = new ClusterHarness(etcd);
            Assert.True(await TestEnvironment.EventuallyAsync(() => h.Client.GetPrefixAsync(ClusterKeys.States).GetAwaiter().GetResult().Kvs.Count == 0,
                TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(200)), "a node still reports a copy after the removal");
        }
    }

    private static (int ExitCode, string Stdout, string Stderr) Cli(ClusterDaemon daemon, string? token, params string[] args)
    {
        var environment = new Dictionary<string, string?> { ["STRATA_SOCKET"] = daemon.Socket.Endpoint["unix:".Length..] };
        if (token is not null)
        {
            environment["STRATA_TOKEN"] = token;
        }
        return PublishedCli.Run(environment, TimeSpan.FromSeconds(300), args);
    }
}
