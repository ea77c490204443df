using Strata.Contracts;
using Strata.Testing;

namespace Strata.Cluster.Tests;

/// <summary>
/// What a move by node name checks before it starts anything, on real etcd with in-process nodes: a live move to a node
/// whose CPU cannot run the guest's model is refused naming both nodes and CPUs, a move to a node without the free
/// memory or CPU is refused naming what is free and what is needed; either leaves no move marker, no copy on the
/// target and the assignment where it was. A target with the same CPU and room passes.
/// </summary>
[Collection(EtcdCollection.Name)]
public sealed class MoveTargetCheckTests(EtcdCluster etcd)
{
    private const long MiB = 1L << 20;

    private static NodeCpu Kvm(string vendor, string model, string flags, params string[] models) =>
        new() { Accelerator = "kvm", Vendor = vendor, ModelName = model, FlagsSha256 = flags, Models = models };

    [SkippableFact]
    public async Task MoveByNodeName_RefusedForAnIncompatibleCpuOrTooLittleFreeRoom_NothingStarted()
    {
        await using var h = new ClusterHarness(etcd);
        await h.WipeAsync();
        var intel = Kvm("GenuineIntel", "Intel Xeon Gold 6130", "f1", "qemu64", "Haswell", "Skylake-Server");
        var amd = Kvm("AuthenticAMD", "AMD EPYC 7502", "f3", "qemu64", "EPYC", "EPYC-Rome");
        var source = await h.StartNodeAsync("mv31a", cpu: intel);
        var other = await h.StartNodeAsync("mv31b", cpu: amd);
        var small = await h.StartNodeAsync("mv31c", memory: 128 * MiB, cpu: intel);
        var roomy = await h.StartNodeAsync("mv31d", cpu: intel);
        await h.LeaderAsync();

        // The published CPUs come back from etcd as written, and the baseline over them says why there is none.
        var nodes = await ClusterView.NodesAsync(h.Client);
        var published = nodes.Single(n => n.Name == "mv31b").Record!.Cpu!;
        Assert.Equal((amd.Accelerator, amd.Vendor, amd.ModelName, amd.FlagsSha256), (published.Accelerator, published.Vendor, published.ModelName, published.FlagsSha256));
        Assert.Equal(amd.Models, published.Models);
        Assert.Equal("kvm", nodes.Single(n => n.Name == "mv31b").Record!.Accelerator);
        var baseline = CpuBaseline.Compute(nodes.Select(n => (n.Name, n.Record?.Cpu)));
        Assert.Null(baseline.Model);
        Assert.Contains("node mv31a has Intel Xeon Gold 6130 (GenuineIntel, kvm) and node mv31b has AMD EPYC 7502 (AuthenticAMD, kvm)", baseline.Conflict, StringComparison.Ordinal);

        await h.Instances.CreateAsync(ClusterHarness.Instance("mv31-vm", tier: "vm", memory: 256 * MiB, cpuMillis: 1000, stateless: false) with { PinnedNode = "mv31a" });
        Assert.True(await TestEnvironment.EventuallyAsync(() => source.Workloads.Copies.Any(c => c.Name == "mv31-vm"), TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(50)),
            "the instance never ran on mv31a");

        MoveAsk Ask(string target) => new("default", "mv31-vm", "mv31a", target, "vm", Live: true, "kvm", "Skylake-Server");

        var cpu = await Assert.ThrowsAsync<StrataException>(() => MoveTargetCheck.CheckAsync(h.Client, Ask("mv31b"), CancellationToken.None));
        Assert.Equal(ErrorKind.Conflict, cpu.Kind);
        Assert.Contains("cannot move live", cpu.Message, StringComparison.Ordinal);
        Assert.Contains("node mv31a has Intel Xeon Gold 6130 (GenuineIntel, kvm) and node mv31b has AMD EPYC 7502 (AuthenticAMD, kvm)", cpu.Message, StringComparison.Ordinal);

        var room = await Assert.ThrowsAsync<StrataException>(() => MoveTargetCheck.CheckAsync(h.Client, Ask("mv31c"), CancellationToken.None));
        Assert.Equal(ErrorKind.Conflict, room.Kind);
        Assert.Contains("node mv31c has 128 MiB memory and 4 cores free, and instance 'mv31-vm' needs 256 MiB memory and 1 core", room.Message, StringComparison.Ordinal);
        Assert.Contains("strata node ls", room.Message, StringComparison.Ordinal);

        // A cold move checks no CPU but still the room; the node with the same CPU and room passes both.
        var cold = await Assert.ThrowsAsync<StrataException>(() => MoveTargetCheck.CheckAsync(h.Client, Ask("mv31c") with { Live = false }, CancellationToken.None));
        Assert.Contains("needs 256 MiB memory", cold.Message, StringComparison.Ordinal);
        await MoveTargetCheck.CheckAsync(h.Client, Ask("mv31b") with { Live = false }, CancellationToken.None);
        Assert.Equal("mv31d", (await MoveTargetCheck.CheckAsync(h.Client, Ask("mv31d"), CancellationToken.None)).Name);

        // Nothing started: no marker, no copy on any other node, the assignment still the source's.
        Assert.Empty((await h.Client.GetPrefixAsync(ClusterKeys.Moves)).Kvs);
        Assert.DoesNotContain(other.Workloads.Copies.Concat(small.Workloads.Copies).Concat(roomy.Workloads.Copies), c => c.Name == "mv31-vm");
        Assert.Single((await h.Client.GetPrefixAsync(ClusterKeys.Assignment("mv31a", "default", "mv31-vm"))).Kvs);
        Assert.Equal("mv31a", (await h.Instances.GetAsync("default", "mv31-vm"))!.Desired.Node);
    }
}
