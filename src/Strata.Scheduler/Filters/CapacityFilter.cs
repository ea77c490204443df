namespace Strata.Scheduler.Filters;

/// <summary>
/// The node must have the asked CPU, memory, disk and pids free, counting what the plan already placed on it.
/// Names the first dimension short (cpu, memory, disk, pids in that order).
/// </summary>
public sealed class CapacityFilter : IFilterPlugin
{
    public const string PluginName = "capacity";

    public string Name => PluginName;

    public bool AppliesTo(PlacementRequest request) => true;

    public FilterVerdict Filter(in NodeCandidate node, PlacementRequest request)
    {
        var free = node.Free;
        var ask = request.Resources;
        if (free.Covers(ask))
        {
            return FilterVerdict.Pass;
        }
        if (ask.CpuMillis > free.CpuMillis)
        {
            return FilterVerdict.Reject("cpu", $"node {node.Name}: cpu {Resources.Cpu(free.CpuMillis)} free < {Resources.Cpu(ask.CpuMillis)} asked");
        }
        if (ask.MemoryBytes > free.MemoryBytes)
        {
            return FilterVerdict.Reject("memory", $"node {node.Name}: memory {Resources.Bytes(free.MemoryBytes)} free < {Resources.Bytes(ask.MemoryBytes)} asked");
        }
        return ask.DiskBytes > free.DiskBytes
            ? FilterVerdict.Reject("disk", $"node {node.Name}: disk {Resources.Bytes(free.DiskBytes)} free < {Resources.Bytes(ask.DiskBytes)} asked")
            : FilterVerdict.Reject("pids", $"node {node.Name}: pids {free.Pids} free < {ask.Pids} asked");
    }
}
