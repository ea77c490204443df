using Strata.Testing;

namespace Strata.Cluster.Tests;

/// <summary>
/// The node agent's loops are supervised: a fault that is not etcd's is logged and the loop starts again (with a
/// full comparison), and every new registration of the node makes it compare its copies with its assignments.
/// </summary>
[Collection(EtcdCollection.Name)]
public sealed class AgentSupervisionTests(EtcdCluster etcd) : IAsyncLifetime
{
    private readonly ClusterHarness _h = new(etcd);

    public Task InitializeAsync() => _h.WipeAsync();

    public async Task DisposeAsync() => await _h.DisposeAsync();

    [SkippableFact]
    public async Task AFaultingAgentLoop_IsLoggedAndStartsAgain_AndANewRegistrationComparesEveryCopy()
    {
        var log = new RecordingLogger<NodeAgent>();
        var workloads = new MemoryWorkloads();
        // A copy with no assignment, and the host's list failing twice: the first passes fault, then one succeeds.
        workloads.Plant(new LocalCopy("default", "left-over", 7, "running"));
        workloads.FailLists(2);
        var node = await _h.StartNodeAsync("clu19b-sup", workloads: workloads, campaign: false, log: log);
        Assert.True(await TestEnvironment.EventuallyAsync(() => workloads.Copies.Count == 0, TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(50)),
            "the agent did not start again after its loop faulted");
        var faults = log.WithId(1961);
        Assert.NotEmpty(faults);
        Assert.All(faults, f => Assert.IsType<InvalidOperationException>(f.Exception));
        Assert.Contains(faults, f => f.Message.Contains("node agent", StringComparison.Ordinal) && f.Message.Contains("list failed (injected)", StringComparison.Ordinal));

        // A stale copy no event will announce: the node's lease is revoked (as when it was away past its TTL), it
        // registers again, and the new registration alone makes the agent compare, long before its 30 s safety net.
        await TestEnvironment.EventuallyAsync(() => node.Agent.Reconciles > 0, TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(50));
        var before = node.Agent.Reconciles;
        var oldLease = node.Membership.Lease;
        workloads.Plant(new LocalCopy("default", "stale", 3, "running"));
        await _h.Client.RevokeLeaseAsync(oldLease);
        Assert.True(await TestEnvironment.EventuallyAsync(() => workloads.Copies.Count == 0, TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(50)),
            "the agent did not compare its copies after the node registered again");
        Assert.NotEqual(oldLease, node.Membership.Lease);
        Assert.True(node.Agent.Reconciles > before);
        Assert.Contains(log.WithId(1944), l => l.Message.Contains(oldLease.ToString("x", System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal));
        Assert.True(node.Agent.StaleStopped >= 2);
    }

    [SkippableFact]
    public async Task ACopyThatLeavesTheNode_HasItsReportRemoved_EvenWhenNoAssignmentEventSaysSo()
    {
        // As on a move's source: its copy, kept by the move marker, is reported; after the switch (marker gone,
        // report deleted) the copy is reported again while it is torn down, and is then removed by the move itself.
        var workloads = new MemoryWorkloads();
        var node = await _h.StartNodeAsync("clu31-gone", workloads: workloads, campaign: false);
        var state = ClusterKeys.State("clu31-gone", "default", "moved");
        await _h.Client.PutAsync(ClusterKeys.Move("default", "moved"), ClusterCodec.Encode(new MoveMarker("clu31-gone", "elsewhere"), ClusterJson.Default.MoveMarker));
        workloads.Plant(new LocalCopy("default", "moved", 4, "running"));
        Assert.True(await TestEnvironment.EventuallyAsync(async () => (await _h.Client.GetAsync(state)).Kvs.Count == 1, TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(50)),
            "the copy kept by its move marker was never reported");
        await _h.Client.DeleteAsync(ClusterKeys.Move("default", "moved"));
        await _h.Client.DeleteAsync(state);
        workloads.Plant(new LocalCopy("default", "moved", 4, "stopped"));
        Assert.True(await TestEnvironment.EventuallyAsync(async () => (await _h.Client.GetAsync(state)).Kvs.Count == 1, TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(50)),
            "the copy being torn down was not reported again");
        await workloads.RemoveAsync("default", "moved", CancellationToken.None);
        Assert.True(await TestEnvironment.EventuallyAsync(async () => (await _h.Client.GetAsync(state)).Kvs.Count == 0, TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(50)),
            "the node still reports a copy it no longer has");
        Assert.Empty(workloads.Copies);
        Assert.NotNull(node);
    }
}
