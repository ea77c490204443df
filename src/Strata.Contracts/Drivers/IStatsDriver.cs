namespace Strata.Contracts.Drivers;

/// <summary>Optional capability: resource usage and the processes of a running workload.</summary>
public interface IStatsDriver
{
    /// <summary>Usage now; <see cref="InstanceStats.CpuPercent"/> is measured over a short window.</summary>
    Task<InstanceStats> StatsAsync(DriverHandle handle, CancellationToken cancellationToken);

    /// <summary>
    /// Cumulative counters now, without a measuring window: cheap enough for the daemon to call for every running
    /// instance every few seconds (the usage sampler, docs/rightsizing.md). CPU use is the difference of two readings.
    /// </summary>
    Task<UsageReading> ReadUsageAsync(DriverHandle handle, CancellationToken cancellationToken);

    /// <summary>The workload's processes, as the host sees them.</summary>
    Task<IReadOnlyList<ProcessEntry>> TopAsync(DriverHandle handle, CancellationToken cancellationToken);
}

/// <summary>Resource usage of one instance (<c>GET /v1/instances/{name}/stats</c>).</summary>
public sealed record InstanceStats
{
    public required string Name { get; init; }
    /// <summary>CPU used, in percent of one core (200 = two cores busy), over <see cref="SampleMilliseconds"/>.</summary>
    public double CpuPercent { get; init; }
    public long CpuNanoseconds { get; init; }
    public int SampleMilliseconds { get; init; }
    public long MemoryBytes { get; init; }
    /// <summary>The memory limit, or null when unlimited.</summary>
    public long? MemoryLimitBytes { get; init; }
    public long Pids { get; init; }
    public long? PidsLimit { get; init; }
    /// <summary>Resident memory of the workload's host processes (QEMU for vm and sandbox); null where the tier does not read it.</summary>
    public long? HostRssBytes { get; init; }
    /// <summary>Proportional memory (shared pages divided among their users) of the workload's host processes.</summary>
    public long? HostPssBytes { get; init; }
    /// <summary>vm and sandbox: the memory the guest has now, as its balloon driver reports it (null when it does not).</summary>
    public long? GuestMemoryTotalBytes { get; init; }
    /// <summary>vm and sandbox: what the guest uses (total − available), which is then also <see cref="MemoryBytes"/>.</summary>
    public long? GuestMemoryUsedBytes { get; init; }
}

/// <summary>
/// One reading of an instance's counters: CPU time used since it started, memory in use now (without inactive page
/// cache), the memory limit in force (null when unlimited or unknown) and how many times the kernel's OOM killer has
/// killed a process of it. <paramref name="Booting"/>: the workload has not started yet (a guest whose init is still
/// booting it), so the CPU used up to this reading is the boot's, which right-sizing leaves out (docs/rightsizing.md).
/// </summary>
public readonly record struct UsageReading(long CpuNanoseconds, long MemoryBytes, long? MemoryLimitBytes, long OomKills, bool Booting = false);

/// <summary>One process of an instance (<c>GET /v1/instances/{name}/top</c>). PIDs are host PIDs.</summary>
public sealed record ProcessEntry(int Pid, int ParentPid, int Uid, string State, double CpuSeconds, long RssBytes, string Command);

public sealed record ProcessList(string Name, IReadOnlyList<ProcessEntry> Processes);
