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

    public string? Reject(in NodeCandidate node, PlacementRequest request)
    {
        var free = node.Free;
        var ask = request.Resources;
        return ask.CpuMillis > free.CpuMillis ? "cpu"
            : ask.MemoryBytes > free.MemoryBytes ? "memory"
            : ask.DiskBytes > free.DiskBytes ? "disk"
            : ask.Pids > free.Pids ? "pids"
            : null;
    }

    public string Explain(in NodeCandidate node, PlacementRequest request, string reason)
    {
        var free = node.Free;
        var ask = request.Resources;
        return reason switch
        {
            "cpu" => $"node {node.Name}: cpu {Resources.Cpu(free.CpuMillis)} free < {Resources.Cpu(ask.CpuMillis)} asked",
            "memory" => $"node {node.Name}: memory {Resources.Bytes(free.MemoryBytes)} free < {Resources.Bytes(ask.MemoryBytes)} asked",
            "disk" => $"node {node.Name}: disk {Resources.Bytes(free.DiskBytes)} free < {Resources.Bytes(ask.DiskBytes)} asked",
            _ => $"node {node.Name}: pids {free.Pids} free < {ask.Pids} asked",
        };
    }
}
