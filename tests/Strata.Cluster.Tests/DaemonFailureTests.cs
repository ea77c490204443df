using System.Diagnostics;
using System.Text.Json;
using Strata.Client;
using Strata.Cluster.Etcd;
using Strata.Contracts;
using Strata.Testing;

namespace Strata.Cluster.Tests;

/// <summary>
/// Failures of published stratad daemons (lease TTL 3 s, replacement grace 3 s, fake tier): <c>kill -9</c> of the
/// scheduler leader during a burst of creates, and the leader (holding instances) stopped with <c>SIGSTOP</c> past its lease, then continued.
/// </summary>
[Collection(EtcdCollection.Name)]
public sealed class DaemonFailureTests(EtcdCluster etcd, Xunit.Abstractions.ITestOutputHelper output) : IAsyncLifetime
{
    private readonly ClusterDaemons _daemons = new(etcd, "clu19-fail");

    public async Task InitializeAsync()
    {
        _ = PublishedDaemon.Binary; // skips (fails under CI) when stratad is not published
        await using var h = new ClusterHarness(etcd);
        await h.WipeAsync();
    }

    public async Task DisposeAsync() => await _daemons.DisposeAsync();

    private async Task<List<ClusterDaemon>> StartThreeAsync(string prefix)
    {
        var nodes = new List<ClusterDaemon>();
        foreach (var n in new[] { "1", "2", "3" })
        {
            nodes.Add(await _daemons.StartAsync(prefix + n));
        }
        Assert.True(await TestEnvironment.EventuallyAsync(() => Cluster(nodes[1].Socket).GetProperty("nodes").EnumerateArray().Count(n => n.GetProperty("status").GetString() == "online") == 3
            && Leader(nodes[1].Socket) is not null, TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(200)), "three nodes and a leader did not come up");
        return nodes;
    }

    private static JsonElement Cluster(StrataClient c) => JsonDocument.Parse(c.GetTextAsync("v1/cluster").GetAwaiter().GetResult()).RootElement;

    private static string? Leader(StrataClient c)
    {
        try
        {
            return Cluster(c).GetProperty("leader") is { ValueKind: JsonValueKind.String } l ? l.GetString() : null;
        }
        catch (StrataApiException)
        {
            return null;
        }
    }

    private static InstanceSpec Fake(string name) => new()
    {
        Name = name,
        Tier = "fake",
        Args = ["sleep"],
        Restart = "always",
        Resources = new ResourceSpec { Cpus = 0.01, MemoryBytes = 8L << 20 },
    };

    private async Task<Dictionary<string, List<string>>> AssignmentsAsync()
    {
        using var client = new EtcdConnection(etcd.ConnectionString);
        return (await client.GetPrefixAsync(ClusterKeys.Assignments, keysOnly: true)).Kvs.Select(ClusterCodec.Key)
            .GroupBy(k => ClusterKeys.ProjectAndName(k).Name)
            .ToDictionary(g => g.Key, g => g.Select(k => k[ClusterKeys.Assignments.Length..k.IndexOf('/', ClusterKeys.Assignments.Length)]).ToList());
    }

    [SkippableFact]
    public async Task ThreeClients_Create1000AtOnceThroughThreeDaemonsHttpApis_ExactlyTheInstanceQuotaIsAdmitted()
    {
        var nodes = await StartThreeAsync("qb");
        await nodes[0].Socket.CreateProjectAsync(new CreateProjectRequest { Name = "burst", Quota = new ProjectQuota { Instances = 700 } });
        var token = (await nodes[0].Socket.CreateTokenAsync("burst", ProjectRoles.Operator)).Token!;
        // One client per node, over each node's TCP API with the project's token, 24 creates in flight each.
        var clients = nodes.Select(n => n.Tcp(token)).ToList();
        var created = 0;
        var refused = new System.Collections.Concurrent.ConcurrentBag<StrataApiException>();
        var next = -1;
        var sw = Stopwatch.StartNew();
        await Task.WhenAll(clients.SelectMany(c => Enumerable.Range(0, 24).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < 1000)
            {
                try
                {
                    await c.CreateAsync(new InstanceSpec { Name = $"b-{i:D4}", Tier = "fake", Args = ["sleep"], Resources = new ResourceSpec { Cpus = 0.001, MemoryBytes = 1L << 20 } });
                    Interlocked.Increment(ref created);
                }
                catch (StrataApiException e)
                {
                    refused.Add(e);
                }
            }
        })));
        output.WriteLine($"1,000 creates through three daemons' HTTP APIs in {sw.Elapsed.TotalSeconds:0.0} s: {created} admitted, {refused.Count} refused");
        Assert.Equal(700, created);
        Assert.Equal(300, refused.Count);
        Assert.All(refused, e => Assert.True(e.Status == 403 && e.Message.Contains("instance quota", StringComparison.Ordinal), $"{e.Status}: {e.Message}"));
        // Exactly 700 assignments in etcd, none twice; every node lists the same 700 for the project.
        var assignments = await AssignmentsAsync();
        Assert.Equal(700, assignments.Count(a => a.Key.StartsWith("b-", StringComparison.Ordinal)));
        Assert.All(assignments.Where(a => a.Key.StartsWith("b-", StringComparison.Ordinal)), a => Assert.Single(a.Value));
        foreach (var c in clients)
        {
            Assert.Equal(700, (await c.ListAsync()).Items.Count);
            c.Dispose();
        }
        // A second project's token sees none of them.
        await nodes[0].Socket.CreateProjectAsync(new CreateProjectRequest { Name = "other" });
        using var other = nodes[0].Tcp((await nodes[0].Socket.CreateTokenAsync("other", ProjectRoles.Operator)).Token!);
        Assert.Empty((await other.ListAsync()).Items);
        var admitted = assignments.Keys.First(k => k.StartsWith("b-", StringComparison.Ordinal));
        Assert.Equal(404, (await Assert.ThrowsAsync<StrataApiException>(() => other.DeleteAsync(admitted, force: true))).Status);
        Assert.True(assignments.ContainsKey(admitted) && (await AssignmentsAsync()).ContainsKey(admitted));
    }

    [SkippableFact]
    public async Task KillingTheLeaderDuringABurstOfCreates_AnotherLeadsWithinAboutALeaseTtl_NoInstancePlacedTwice_NoneLost()
    {
        var nodes = await StartThreeAsync("clu19-k");
        var leader = Leader(nodes[0].Socket)!;
        var victim = nodes.Single(n => n.Node == leader);
        var others = nodes.Where(n => n != victim).ToList();
        const int Count = 60;
        var created = 0;
        var failures = new List<Exception>();
        var burst = Parallel.ForEachAsync(Enumerable.Range(0, Count), new ParallelOptions { MaxDegreeOfParallelism = 6 }, async (i, ct) =>
        {
            try
            {
                await others[i % 2].Socket.CreateAsync(Fake($"lk-{i:D2}"), ct: ct);
                Interlocked.Increment(ref created);
            }
            catch (StrataApiException e)
            {
                lock (failures)
                {
                    failures.Add(e);
                }
            }
        });
        Assert.True(await TestEnvironment.EventuallyAsync(() => Volatile.Read(ref created) >= 10, TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(20)));
        var sw = Stopwatch.StartNew();
        await PublishedDaemon.KillAsync(victim.Process);
        Assert.True(await TestEnvironment.EventuallyAsync(() => Leader(others[0].Socket) is { } now && now != leader,
            TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(100)), "no other node led after the leader was killed");
        var took = sw.Elapsed;
        var placedOnVictim = (await AssignmentsAsync()).Count(a => a.Value.Contains(leader));
        output.WriteLine($"another node led {took.TotalSeconds:0.0} s after kill -9 of the leader, {Volatile.Read(ref created)} of {Count} creates done then, {placedOnVictim} placed on it");
        // Lease TTL 3 s: the election key lapses within one TTL of the last renewal; allow for a loaded machine.
        Assert.True(took <= TimeSpan.FromSeconds(3 + 5), $"another node led {took.TotalSeconds:0.0} s after the leader was killed");
        await burst;
        Assert.Empty(failures);
        Assert.Equal(Count, created);

        // None placed twice: one assignment per instance, and every instance is listed once.
        var assigned = await AssignmentsAsync();
        Assert.Equal(Count, assigned.Count);
        Assert.All(assigned, a => Assert.Single(a.Value));
        var listed = (await others[0].Socket.ListAsync()).Items;
        Assert.Equal(Enumerable.Range(0, Count).Select(i => $"lk-{i:D2}"), listed.Select(i => i.Name).Order(StringComparer.Ordinal));
        // None lost: those the dead node held are placed again after the grace; all run on the survivors, one copy each.
        Assert.True(await TestEnvironment.EventuallyAsync(() =>
        {
            var items = others[1].Socket.ListAsync().GetAwaiter().GetResult().Items;
            return items.Count == Count && items.All(i => i.State == "running" && i.Details!["node"] != leader);
        }, TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(250)), "not every instance ran on a surviving node");
        Assert.All(await AssignmentsAsync(), a => Assert.NotEqual(leader, Assert.Single(a.Value)));
        Assert.True(await TestEnvironment.EventuallyAsync(() => others.Sum(n => n.Socket.InfoAsync().GetAwaiter().GetResult().Instances) == Count,
            TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(200)), "the survivors do not hold exactly one copy of each instance");
    }

    [SkippableFact]
    public async Task TheLeaderStoppedPastItsLease_StopsTheCopiesThatWereReplaced_WhenItContinues()
    {
        var nodes = await StartThreeAsync("clu19-s");
        // The two other nodes are drained while the instances are created, so the scheduler leader holds both: the
        // stopped node is then the leader and a holder at once (its term, its node lease and its agent all lapse).
        var leaderName = Leader(nodes[0].Socket)!;
        var holder = nodes.Single(n => n.Node == leaderName);
        var others = nodes.Where(n => n != holder).ToList();
        foreach (var o in others)
        {
            await holder.Socket.ChangeNodeJsonAsync(o.Node, "drain");
        }
        var first = await others[0].Socket.CreateAsync(Fake("st-a"));
        await others[0].Socket.CreateAsync(Fake("st-b"));
        Assert.Equal(leaderName, first.Details!["node"]);
        foreach (var o in others)
        {
            await holder.Socket.ChangeNodeJsonAsync(o.Node, "undrain");
        }
        Assert.True(await TestEnvironment.EventuallyAsync(() => holder.Socket.InfoAsync().GetAwaiter().GetResult().Instances == 2,
            TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(100)), "the leader does not run both instances");

        Signal("STOP", holder.Process.Id);
        try
        {
            // Its leases lapse: another node leads, marks it offline, and after the grace both instances run elsewhere.
            Assert.True(await TestEnvironment.EventuallyAsync(() =>
            {
                var items = others[0].Socket.ListAsync().GetAwaiter().GetResult().Items;
                return items.Count == 2 && items.All(i => i.State == "running" && i.Details!["node"] != leaderName);
            }, TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(250)), "the stopped leader's instances were not placed again");
            Assert.NotEqual(leaderName, Leader(others[0].Socket));
        }
        finally
        {
            Signal("CONT", holder.Process.Id);
        }
        // Continued, its copies are stale (another generation runs elsewhere): it stops and removes them.
        Assert.True(await TestEnvironment.EventuallyAsync(() => holder.Socket.InfoAsync().GetAwaiter().GetResult().Instances == 0,
            TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(200)), "the continued leader kept its replaced copies; its log:\n" + holder.LastOutput());
        Assert.Equal(2, others.Sum(n => n.Socket.InfoAsync().GetAwaiter().GetResult().Instances));
        var after = (await holder.Socket.ListAsync()).Items;
        Assert.Equal(2, after.Count);
        Assert.All(after, i => Assert.NotEqual(leaderName, i.Details!["node"]));
        Assert.All(await AssignmentsAsync(), a => Assert.NotEqual(leaderName, Assert.Single(a.Value)));
        // It is back: online, and campaigning again (it may lead again, or not).
        Assert.True(await TestEnvironment.EventuallyAsync(() => Cluster(others[0].Socket).GetProperty("nodes").EnumerateArray()
            .Any(n => n.GetProperty("name").GetString() == leaderName && n.GetProperty("status").GetString() == "online"),
            TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(200)), "the continued leader did not register again");
        output.WriteLine("the continued leader's log:\n" + holder.LastOutput(40));
    }

    private static void Signal(string signal, int pid)
    {
        using var kill = Process.Start("kill", ["-" + signal, pid.ToString(System.Globalization.CultureInfo.InvariantCulture)])!;
        kill.WaitForExit();
        Assert.Equal(0, kill.ExitCode);
    }
}
