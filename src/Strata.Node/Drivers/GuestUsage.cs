using System.Collections.Concurrent;
using System.Diagnostics;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Stats;
using Strata.Node.Supervision;
using Strata.Qemu.Qmp;

namespace Strata.Node.Drivers;

/// <summary>
/// Usage of a QEMU guest (the vm and sandbox tiers), from two sides. The host: CPU time and resident/proportional
/// memory of QEMU and the helpers it started (virtiofsd), from /proc. The guest: its balloon driver's own figures
/// (<see cref="BalloonStats"/>) and the balloon's size (QMP <c>query-balloon</c>), which is the memory the guest has
/// now. The working set is what the guest uses (total − available) when its driver reports, else QEMU's PSS.
/// </summary>
internal sealed class GuestUsage
{
    /// <summary>Figures older than this are not the guest's present (its driver went away or the guest is stuck).</summary>
    private static readonly TimeSpan StaleAfter = TimeSpan.FromSeconds(BalloonStats.PollingIntervalSeconds * 5 + 10);

    /// <summary>The balloon device's QOM path by QMP socket and QEMU pid ("" when the machine has none).</summary>
    private readonly ConcurrentDictionary<(string Socket, int Pid), string> _balloons = new();

    /// <summary>One reading: host side always, guest side when QMP answered and the balloon driver reported.</summary>
    public async Task<GuestUsageReading> ReadAsync(DriverHandle handle, string qmpSocket, long bootMemoryBytes,
        Func<Func<QmpClient, Task<(GuestMemoryStats?, long?)>>, Task<(GuestMemoryStats?, long?)>> useQmp, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(handle);
        ArgumentNullException.ThrowIfNull(useQmp);
        if (handle.Pid is not { } pid || handle.PidStartTicks is not { } ticks || !ProcessIdentity.IsAlive(pid, ticks))
        {
            throw StrataException.Conflict("the guest's QEMU is not running");
        }
        int[] pids = [pid, .. HostProcesses.Children(pid)];
        var (cpu, host) = HostProcesses.Sum(pids, withReapedChildren: false);
        GuestMemoryStats? guest = null;
        long? balloon = null;
        try
        {
            (guest, balloon) = await useQmp(qmp => ReadBalloonAsync(qmp, qmpSocket, pid, cancellationToken)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is StrataException or QmpException or IOException)
        {
            // QMP busy or QEMU ending: the host side stands alone this time.
        }
        if (guest is not null && DateTimeOffset.UtcNow - guest.Updated > StaleAfter)
        {
            guest = null;
        }
        return new GuestUsageReading(cpu, host, guest, balloon ?? bootMemoryBytes);
    }

    private async Task<(GuestMemoryStats?, long?)> ReadBalloonAsync(QmpClient qmp, string socket, int pid, CancellationToken ct)
    {
        if (!_balloons.TryGetValue((socket, pid), out var path))
        {
            foreach (var old in _balloons.Keys.Where(k => k.Socket == socket))
            {
                _balloons.TryRemove(old, out _);
            }
            path = await BalloonStats.FindAsync(qmp, ct).ConfigureAwait(false) ?? "";
            _balloons[(socket, pid)] = path;
        }
        if (path.Length == 0)
        {
            return (null, null);
        }
        var stats = await BalloonStats.ReadAsync(qmp, path, ct).ConfigureAwait(false);
        var query = await qmp.ExecuteAsync("query-balloon", null, ct).ConfigureAwait(false);
        return (stats, query.TryGetProperty("actual", out var a) ? a.GetInt64() : null);
    }

    /// <summary>Forgets what it cached for a QMP socket (the guest ended).</summary>
    public void Forget(string qmpSocket)
    {
        foreach (var key in _balloons.Keys.Where(k => k.Socket == qmpSocket))
        {
            _balloons.TryRemove(key, out _);
        }
    }

    /// <summary><c>strata stats</c> for a guest: CPU over <paramref name="window"/>, both memory views.</summary>
    public async Task<InstanceStats> StatsAsync(DriverHandle handle, Func<CancellationToken, Task<GuestUsageReading>> read, TimeSpan window, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(handle);
        ArgumentNullException.ThrowIfNull(read);
        var first = await read(cancellationToken).ConfigureAwait(false);
        var t0 = Stopwatch.GetTimestamp();
        await Task.Delay(window, cancellationToken).ConfigureAwait(false);
        var second = await read(cancellationToken).ConfigureAwait(false);
        var elapsed = Stopwatch.GetElapsedTime(t0);
        return new InstanceStats
        {
            Name = handle.InstanceId,
            CpuNanoseconds = second.CpuNanoseconds,
            CpuPercent = Math.Round(Math.Max(0, second.CpuNanoseconds - first.CpuNanoseconds) / (elapsed.TotalMilliseconds * 1e6) * 100, 1),
            SampleMilliseconds = (int)elapsed.TotalMilliseconds,
            MemoryBytes = second.WorkingSetBytes,
            MemoryLimitBytes = second.MemoryBytes,
            HostRssBytes = second.Host.RssBytes,
            HostPssBytes = second.Host.PssBytes,
            GuestMemoryTotalBytes = second.Guest?.TotalBytes,
            GuestMemoryUsedBytes = second.Guest?.UsedBytes,
        };
    }
}

/// <summary>
/// A guest's usage: CPU time of QEMU and its helpers, their host memory, the guest's own figures (null when its balloon
/// driver does not report) and the memory the guest has now (the balloon's <c>actual</c>, else the boot size).
/// </summary>
internal sealed record GuestUsageReading(long CpuNanoseconds, ProcessMemory Host, GuestMemoryStats? Guest, long MemoryBytes)
{
    /// <summary>What the guest uses when it says so, else what QEMU holds on the host (PSS).</summary>
    public long WorkingSetBytes => Guest?.UsedBytes ?? Host.PssBytes;

    public UsageReading ToUsageReading() => new(CpuNanoseconds, WorkingSetBytes, MemoryBytes, OomKills: 0);
}
