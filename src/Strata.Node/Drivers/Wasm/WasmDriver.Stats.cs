using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Stats;

namespace Strata.Node.Drivers.Wasm;

/// <summary>
/// Usage of a running wasm instance. Modules run on a thread of the daemon (docs/wasm.md), so there is no process or
/// cgroup of their own: CPU is the run thread's time, memory the module's linear memory, limited by the spec's
/// memory (<see cref="WasmUsage"/>). Its one "process" is the daemon.
/// </summary>
public sealed partial class WasmDriver : IStatsDriver
{
    public Task<UsageReading> ReadUsageAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        var run = Running(handle);
        // A linear memory that outgrows its limit makes the run fail with "limit: memory" (its exit, not a counter).
        return Task.FromResult(new UsageReading(run.Usage.CpuNanoseconds, run.Usage.MemoryBytes, run.MemoryLimitBytes, OomKills: 0));
    }

    public async Task<InstanceStats> StatsAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        var run = Running(handle);
        var cpu = await StatsWindow.ReadTwiceAsync(() => run.Usage.CpuNanoseconds, cancellationToken).ConfigureAwait(false);
        return cpu.Stats(handle.InstanceId, ns => ns) with
        {
            MemoryBytes = run.Usage.MemoryBytes,
            MemoryLimitBytes = run.MemoryLimitBytes,
            Pids = 1,
        };
    }

    /// <summary>A wasm instance has no process of its own; <c>strata top</c> lists none.</summary>
    public Task<IReadOnlyList<ProcessEntry>> TopAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        Running(handle);
        return Task.FromResult<IReadOnlyList<ProcessEntry>>([]);
    }

    private WasmRun Running(DriverHandle handle) =>
        _runs.TryGetValue(handle.InstanceId, out var run) && !run.Exit.Task.IsCompleted ? run
            : throw StrataException.Conflict("the wasm instance is not running");
}
