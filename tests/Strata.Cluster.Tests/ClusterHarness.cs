using Microsoft.Extensions.Logging.Abstractions;
using Strata.Cluster.Etcd;
using Strata.Scheduler;
using Strata.Testing;

namespace Strata.Cluster.Tests;

/// <summary>One in-process node: its own etcd connection, membership, agent (memory workloads) and campaign.</summary>
public sealed class TestNode : IAsyncDisposable
{
    private bool _stopped;

    public required string Name { get; init; }
    public required EtcdConnection Etcd { get; init; }
    public required NodeMembership Membership { get; init; }
    public required NodeAgent Agent { get; init; }
    public required SchedulerLeader Leader { get; init; }
    public required MemoryWorkloads Workloads { get; init; }

    /// <summary>Stops the node as a crash would: no lease revoked, so it lapses a TTL later.</summary>
    public async Task CrashAsync()
    {
        if (_stopped)
        {
            return;
        }
        _stopped = true;
        await Leader.StopAsync(resign: false);
        await Agent.DisposeAsync();
        await Membership.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (!_stopped)
        {
            _stopped = true;
            await Leader.DisposeAsync();
            await Agent.DisposeAsync();
            try
            {
                await Membership.LeaveAsync();
            }
            catch (EtcdUnavailableException)
            {
            }
            await Membership.DisposeAsync();
        }
        Etcd.Dispose();
    }
}

/// <summary>Nodes started in-process against the shared etcd cluster; everything under /strata/ is wiped first.</summary>
public sealed class ClusterHarness : IAsyncDisposable
{
    private readonly EtcdCluster _etcd;
    private readonly List<TestNode> _nodes = [];

    public ClusterHarness(EtcdCluster etcd, ClusterOptions? options = null, SchedulerOptions? scheduler = null)
    {
        _etcd = etcd;
        Options = options ?? new ClusterOptions { LeaseTtl = TimeSpan.FromSeconds(3), OfflineAfter = TimeSpan.FromSeconds(20) };
        SchedulerOptions = scheduler ?? new SchedulerOptions();
        Client = new EtcdConnection(etcd.ConnectionString);
        Instances = new ClusterInstances(Client, Options);
    }

    public ClusterOptions Options { get; }
    public SchedulerOptions SchedulerOptions { get; }
    public EtcdConnection Client { get; }
    public ClusterInstances Instances { get; }
    public IReadOnlyList<TestNode> Nodes => _nodes;

    /// <summary>Deletes every cluster key left by an earlier test.</summary>
    public async Task WipeAsync()
    {
        await Client.RunAsync((c, d, t) => new Etcdserverpb.KV.KVClient(c).DeleteRangeAsync(new Etcdserverpb.DeleteRangeRequest
        {
            Key = EtcdConnection.Bytes(ClusterKeys.Root),
            RangeEnd = EtcdConnection.PrefixEnd(ClusterKeys.Root),
        }, deadline: d, cancellationToken: t).ResponseAsync);
    }

    public async Task<TestNode> StartNodeAsync(string name, long cpuMillis = 4000, long memory = 8L << 30, IEnumerable<string>? tiers = null,
        MemoryWorkloads? workloads = null, bool campaign = true, Microsoft.Extensions.Logging.ILogger? log = null, NodeCpu? cpu = null)
    {
        var etcd = new EtcdConnection(_etcd.ConnectionString);
        var record = new NodeRecord
        {
            Name = name,
            Address = "127.0.0.1:0",
            Capacity = new ResourceAmounts(cpuMillis, memory, 100L << 30, 100_000),
            Free = new ResourceAmounts(cpuMillis, memory, 100L << 30, 100_000),
            Tiers = [.. (tiers ?? ["process", "container", "wasm", "vm", "fake"]).Select(t => new TierOffer(t))],
            Cpu = cpu,
            Accelerator = cpu?.Accelerator,
        };
        var membership = new NodeMembership(etcd, Options, () => record, log ?? NullLogger.Instance);
        await membership.StartAsync(CancellationToken.None);
        workloads ??= new MemoryWorkloads();
        var agent = new NodeAgent(etcd, membership, workloads, name, log ?? NullLogger.Instance);
        agent.Start();
        var leader = new SchedulerLeader(etcd, Options, name, new Scheduler.Scheduler(SchedulerOptions), NullLogger.Instance);
        if (campaign)
        {
            leader.Start();
        }
        var node = new TestNode { Name = name, Etcd = etcd, Membership = membership, Agent = agent, Leader = leader, Workloads = workloads };
        _nodes.Add(node);
        return node;
    }

    public static DesiredInstance Instance(string name, string project = "default", long cpuMillis = 500, long memory = 256L << 20,
        string tier = "container", string? restart = null, bool stateless = true) => new()
    {
        Project = project,
        Name = name,
        Tier = tier,
        Resources = new ResourceAmounts(cpuMillis, memory),
        Restart = restart,
        Stateless = stateless,
    };

    public async Task<TestNode> LeaderAsync(TimeSpan? within = null)
    {
        TestNode? leader = null;
        var found = await TestEnvironment.EventuallyAsync(() => (leader = _nodes.FirstOrDefault(n => n.Leader.IsLeader)) is not null,
            within ?? TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(50));
        Assert.True(found, "no node became scheduler leader");
        return leader!;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var n in _nodes)
        {
            await n.DisposeAsync();
        }
        Client.Dispose();
    }
}
