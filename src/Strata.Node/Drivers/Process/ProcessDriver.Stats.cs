using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Cgroups;
using Strata.Node.Stats;
using Strata.Node.Supervision;

namespace Strata.Node.Drivers.Process;

/// <summary>
/// Usage of a running process-tier instance from its cgroups. Its processes are those of its tracking cgroup (every
/// instance has one where the host allows it; else the main process and its children). Memory is the memory cgroup's
/// (without inactive page cache) when the instance has a memory limit, else the PSS of its processes. CPU time is a
/// cgroup's where one counts it (cgroup v2, or a v1 cpuacct), else the sum over its processes of their own time and
/// that of the children they waited for: a process that ends before its parent waited for it takes its time with it,
/// which the sampler sees as a counter going down and starts a new baseline.
/// </summary>
public sealed partial class ProcessDriver : IStatsDriver
{
    public Task<UsageReading> ReadUsageAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        var r = Read(handle);
        return Task.FromResult(new UsageReading(r.CpuNanoseconds, r.MemoryBytes, r.MemoryLimitBytes, r.OomKills));
    }

    public async Task<InstanceStats> StatsAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        var readings = await StatsWindow.ReadTwiceAsync(() => Read(handle), cancellationToken).ConfigureAwait(false);
        var second = readings.Second;
        return readings.Stats(handle.InstanceId, r => r.CpuNanoseconds) with
        {
            MemoryBytes = second.MemoryBytes,
            MemoryLimitBytes = second.MemoryLimitBytes,
            Pids = second.Pids.Count,
            HostRssBytes = second.Host.RssBytes,
            HostPssBytes = second.Host.PssBytes,
        };
    }

    public Task<IReadOnlyList<ProcessEntry>> TopAsync(DriverHandle handle, CancellationToken cancellationToken) =>
        Task.FromResult(HostProcesses.Entries(Processes(handle, Cgroups(handle))));

    private sealed record Reading(long CpuNanoseconds, long MemoryBytes, long? MemoryLimitBytes, long OomKills, IReadOnlyList<int> Pids, ProcessMemory Host);

    private static Reading Read(DriverHandle handle)
    {
        if (handle.Pid is not { } pid || handle.PidStartTicks is not { } ticks || !ProcessIdentity.IsAlive(pid, ticks))
        {
            throw StrataException.Conflict("the instance's process is not running");
        }
        var cgroups = Cgroups(handle);
        var pids = Processes(handle, cgroups);
        var (procCpu, host) = HostProcesses.Sum(pids, withReapedChildren: true);
        var memoryDir = handle.Data.GetValueOrDefault(MemoryCgroupKey);
        var memory = memoryDir is null ? null : CgroupSet.ReadMemoryInUse(memoryDir);
        return new Reading(cgroups?.CpuNanoseconds() ?? procCpu, memory ?? host.PssBytes, memoryDir is null ? null : CgroupSet.ReadMemoryLimit(memoryDir),
            memoryDir is null ? 0 : CgroupSet.ReadOomKills(memoryDir), pids, host);
    }

    private static IReadOnlyList<int> Processes(DriverHandle handle, CgroupSet? cgroups) =>
        cgroups?.Processes() is { Count: > 0 } inCgroup ? inCgroup : HostProcesses.WithChildren(handle.Pid);
}
