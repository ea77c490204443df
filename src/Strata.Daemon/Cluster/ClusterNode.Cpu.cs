using Strata.Cluster;
using Strata.Contracts;
using Strata.Control;
using Strata.Qemu;

namespace Strata.Daemon.Cluster;

/// <summary>The node's CPU as its record publishes it, and the cluster's CPU baseline (docs/cluster.md "CPU baseline").</summary>
public sealed partial class ClusterNode
{
    private readonly InstanceService _instances;
    private readonly Strata.Node.Guest.GuestPipeline? _guest;
    private readonly ILogger _log;
    private NodeCpu? _cpu;

    /// <summary>This node's CPU as published (null: it offers no guest tier).</summary>
    public NodeCpu? Cpu => _cpu;

    /// <summary>The baseline over the online nodes' published CPUs.</summary>
    public static ClusterCpuBaseline Baseline(IEnumerable<NodeView> nodes) =>
        CpuBaseline.Compute(nodes.Where(n => n.Record is not null).Select(n => (n.Name, n.Record!.Cpu)));

    /// <summary>
    /// Once, before joining: the accelerator the guest tiers use (the probe's answer, cached on disk), the host CPU from
    /// /proc/cpuinfo and, under KVM, the QEMU models it runs. A node without a guest tier publishes none; a probe
    /// that fails leaves the models empty (the baseline then needs identical CPUs for <c>host</c>) and says so.
    /// </summary>
    private async Task<NodeCpu?> ProbeCpuAsync(CancellationToken ct)
    {
        if (_guest is null || !(_instances.Drivers.IsAvailable(Tier.Vm) || _instances.Drivers.IsAvailable(Tier.Sandbox)))
        {
            return null;
        }
        var host = HostCpu.Read();
        var cpu = new NodeCpu { Vendor = host.Vendor, ModelName = host.ModelName, FlagsSha256 = host.FlagsSha256 };
        try
        {
            var accel = (await _guest.Assets.AcceleratorAsync(null, "the vm tier's accelerator setting", ct).ConfigureAwait(false)).Accel;
            cpu = cpu with { Accelerator = accel };
            if (accel == Accelerators.Kvm)
            {
                cpu = cpu with { Models = await HostCpu.QueryUsableModelsAsync("qemu-system-x86_64", accel, TimeSpan.FromSeconds(20), ct).ConfigureAwait(false) };
            }
        }
        catch (StrataException e)
        {
            LogCpuProbeFailed(_log, Name, e.Message);
        }
        LogCpu(_log, Name, cpu.ToString(), cpu.Models.Count);
        return cpu;
    }

    [LoggerMessage(EventId = 1976, Level = LogLevel.Information, Message = "Cluster: node {Node} publishes its CPU {Cpu} with {Models} QEMU model(s) it runs")]
    private static partial void LogCpu(ILogger log, string node, string cpu, int models);

    [LoggerMessage(EventId = 1977, Level = LogLevel.Warning, Message = "Cluster: node {Node} could not probe its guests' CPU ({Error}); it publishes no QEMU models")]
    private static partial void LogCpuProbeFailed(ILogger log, string node, string error);
}
