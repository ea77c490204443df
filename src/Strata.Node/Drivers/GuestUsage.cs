using System.Collections.Concurrent;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Stats;
using Strata.Node.Supervision;
using Strata.Qemu;
using Strata.Qemu.Qmp;

namespace Strata.Node.Drivers;

/// <summary>
/// Usage of a QEMU guest (the vm and sandbox tiers), from two sides. The host: CPU time and resident/proportional
/// memory of QEMU and the helpers it started (virtiofsd), from /proc. The guest: its balloon driver's own figures
/// (<see cref="BalloonStats"/>) and the balloon's size (QMP <c>query-balloon</c>), which is the memory the guest has
/// now. The working set is the balloon's size less what the guest has available when its driver reports, else QEMU's
/// PSS.
/// </summary>
internal sealed class GuestUsage
{
    /// <summary>Figures older than this are not the guest's present (its driver went away or the guest is stuck).</summary>
    private static readonly TimeSpan StaleAfter = TimeSpan.FromSeconds(BalloonStats.PollingIntervalSeconds * 5 + 10);

    /// <summary>How long a guest that should report gets before its QEMU's PSS stands in for good (a disk image without the driver).</summary>
    private static readonly TimeSpan FirstReportWithin = TimeSpan.FromSeconds(90);

    /// <summary>Per QMP socket and QEMU pid: the balloon device's QOM path ("" when the machine has none) and whether the guest has reported.</summary>
    private readonly ConcurrentDictionary<(string Socket, int Pid), Balloon> _balloons = new();

    /// <summary>Per QMP socket and QEMU pid: runs whose init has started the workload (their control file is not read again).</summary>
    private readonly ConcurrentDictionary<(string Socket, int Pid), bool> _workloadStarted = new();

    private sealed class Balloon(string path)
    {
        public string Path { get; } = path;
        public DateTimeOffset FirstAsked { get; } = DateTimeOffset.UtcNow;
        public volatile bool Reported;
    }

    /// <summary>
    /// One reading: host side always, guest side when QMP answered and the balloon driver reported. With
    /// <paramref name="expectGuest"/> (the guest loads its balloon driver), a guest that has not reported yet, or has
    /// reported before but not this time, is <see cref="GuestUsageReading.GuestPending"/>: its working set is unknown
    /// rather than QEMU's PSS, which would mix two measures in one history. After <see cref="FirstReportWithin"/>
    /// without any report the PSS stands in. <paramref name="controlPath"/> is the guest's control-port file when it runs
    /// Strata's init (null for a full OS): while init reported the kernel up but not the workload started, the reading
    /// is <see cref="GuestUsageReading.Booting"/>.
    /// </summary>
    public async Task<GuestUsageReading> ReadAsync(DriverHandle handle, string qmpSocket, string? controlPath, long bootMemoryBytes, bool expectGuest,
        Func<Func<QmpClient, Task<(GuestMemoryStats?, long?)>>, Task<(GuestMemoryStats?, long?)>> useQmp, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(handle);
        ArgumentNullException.ThrowIfNull(useQmp);
        if (handle.Pid is not { } pid || handle.PidStartTicks is not { } ticks || !ProcessIdentity.IsAlive(pid, ticks))
        {
            throw StrataException.Conflict("the guest's QEMU is not running");
        }
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
        // /proc after QMP: the sampler stamps a round's readings with the time after them, and a QMP answer can take a
        // while under load; read first, the CPU time would be older than its stamp and CPU in cores overstated.
        int[] pids = [pid, .. HostProcesses.Children(pid)];
        var (cpu, host) = HostProcesses.Sum(pids, withReapedChildren: false);
        if (guest is not null && DateTimeOffset.UtcNow - guest.Updated > StaleAfter)
        {
            guest = null;
        }
        var pending = false;
        if (_balloons.TryGetValue((qmpSocket, pid), out var b) && b.Path.Length > 0)
        {
            if (guest is not null)
            {
                b.Reported = true;
            }
            pending = guest is null && expectGuest && (b.Reported || DateTimeOffset.UtcNow - b.FirstAsked < FirstReportWithin);
        }
        return new GuestUsageReading(cpu, host, guest, balloon is { } actual ? GuestRam.Visible(actual, bootMemoryBytes) : bootMemoryBytes, pending, controlPath is not null && Booting(qmpSocket, pid, controlPath));
    }

    /// <summary>
    /// A cold boot's init writes the kernel mark first and the workload mark when it starts the workload; a guest
    /// restored from a template, a snapshot or a live move writes no kernel mark (its boot was before the save), so
    /// it is never booting. Once the workload started, the run's control file is not read again.
    /// </summary>
    private bool Booting(string qmpSocket, int pid, string controlPath)
    {
        if (_workloadStarted.ContainsKey((qmpSocket, pid)))
        {
            return false;
        }
        var report = QemuVm.ReadGuestReport(controlPath);
        if (report.WorkloadSeconds is not null || report.ExitCode is not null || report.Failure is not null)
        {
            foreach (var old in _workloadStarted.Keys.Where(k => k.Socket == qmpSocket))
            {
                _workloadStarted.TryRemove(old, out _);
            }
            _workloadStarted[(qmpSocket, pid)] = true;
            return false;
        }
        return report.KernelSeconds is not null;
    }

    private async Task<(GuestMemoryStats?, long?)> ReadBalloonAsync(QmpClient qmp, string socket, int pid, CancellationToken ct)
    {
        if (!_balloons.TryGetValue((socket, pid), out var balloon))
        {
            foreach (var old in _balloons.Keys.Where(k => k.Socket == socket))
            {
                _balloons.TryRemove(old, out _);
            }
            balloon = new Balloon(await BalloonStats.FindAsync(qmp, ct).ConfigureAwait(false) ?? "");
            _balloons[(socket, pid)] = balloon;
        }
        if (balloon.Path.Length == 0)
        {
            return (null, null);
        }
        var stats = await BalloonStats.ReadAsync(qmp, balloon.Path, ct).ConfigureAwait(false);
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
        foreach (var key in _workloadStarted.Keys.Where(k => k.Socket == qmpSocket))
        {
            _workloadStarted.TryRemove(key, out _);
        }
    }

    /// <summary>
    /// Why a balloon of <paramref name="targetBytes"/> would starve the guest (its working set now is more), or null
    /// when it fits or the guest does not say what it uses. The guest would otherwise OOM-kill its own workload.
    /// </summary>
    public async Task<string?> NeedsMoreThanAsync(DriverHandle handle, long targetBytes, Func<CancellationToken, Task<GuestUsageReading>> read, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(read);
        var now = await read(cancellationToken).ConfigureAwait(false);
        return now.Guest is not null && now.WorkingSetBytes > targetBytes
            ? $"{targetBytes / (1024 * 1024)} MiB is less than the guest needs now ({now.WorkingSetBytes / (1024 * 1024)} MiB of the {now.MemoryBytes / (1024 * 1024)} MiB it has are in use); the guest would kill its own workload. Give at least {(now.WorkingSetBytes + (1024 * 1024) - 1) / (1024 * 1024)} MiB"
            : null;
    }

    /// <summary><c>strata stats</c> for a guest: CPU over <paramref name="window"/>, both memory views.</summary>
    public async Task<InstanceStats> StatsAsync(DriverHandle handle, Func<CancellationToken, Task<GuestUsageReading>> read, TimeSpan window, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(handle);
        var readings = await StatsWindow.ReadTwiceAsync(read, window, cancellationToken).ConfigureAwait(false);
        var second = readings.Second;
        return readings.Stats(handle.InstanceId, r => r.CpuNanoseconds) with
        {
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
/// <paramref name="Booting"/>: Strata's init in the guest has not started the workload yet.
/// </summary>
internal sealed record GuestUsageReading(long CpuNanoseconds, ProcessMemory Host, GuestMemoryStats? Guest, long MemoryBytes, bool GuestPending, bool Booting = false)
{
    /// <summary>
    /// What the guest needs of the memory it has when it says so: the balloon's size less what the guest could hand out
    /// (its total is smaller than the balloon's size by what its kernel reserved at boot, which it needs as well), else
    /// what QEMU holds on the host (PSS).
    /// </summary>
    public long WorkingSetBytes => Guest is { } g ? Math.Max(g.UsedBytes, MemoryBytes - g.UnusedBytes) : Host.PssBytes;

    /// <summary>The sampler's reading; refused (the round skips this instance) while the guest's own figures are pending.</summary>
    public UsageReading ToUsageReading() => GuestPending
        ? throw new StrataException(ErrorKind.Unavailable, "the guest's balloon driver has not reported its memory yet")
        : new(CpuNanoseconds, WorkingSetBytes, MemoryBytes, OomKills: 0, Booting);
}
