using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Qemu.Migration;
using Strata.Qemu.Qmp;

namespace Strata.Node.Guest;

/// <summary>
/// What both QEMU tiers (vm and sandbox) do the same way in a live move between daemons (docs/move.md): the source's
/// side drives <see cref="LiveMigration"/> against a target another daemon prepared, the target's side starts receiving
/// on a QEMU started with <c>-incoming defer</c>.
/// </summary>
internal static class GuestLiveMove
{
    /// <summary>On the source: migrates the guest behind <paramref name="qmp"/> to <paramref name="target"/> (the engine's undo on failure).</summary>
    public static async Task<MoveResult> MoveOutAsync(QmpClient qmp, IMoveTarget target, LiveMoveOptions options, IProgress<LiveMoveProgress>? progress,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(options);
        var migration = new MigrationOptions { MaxBandwidth = options.MaxBandwidth, Postcopy = options.Postcopy };
        var report = progress is null ? null : new Progress<MigrationProgress>(p => progress.Report(ToMoveProgress(p)));
        var result = await LiveMigration.MigrateAsync(qmp, new RemoteTarget(target), migration, report, cancellationToken).ConfigureAwait(false);
        return new MoveResult
        {
            Mode = "live",
            TotalSeconds = result.Total.TotalSeconds,
            DowntimeMs = result.QemuDowntime.TotalMilliseconds,
            DiskCopySeconds = result.DiskCopyTime.TotalSeconds,
            RamBytes = result.RamBytes,
            DiskBytes = result.DiskBytes,
            Iterations = result.Iterations,
            MaxThrottlePercent = result.MaxThrottlePercent,
            UsedPostcopy = result.UsedPostcopy,
        };
    }

    /// <summary>
    /// On the target: the source's description of its machine (<see cref="IncomingMove.Machine"/>), read as
    /// <paramref name="type"/>. <paramref name="what"/> names it in the errors ("the moving VM's configuration"); an
    /// unreadable one most likely comes from another Strata version.
    /// </summary>
    public static T ReadMachine<T>(string machine, JsonTypeInfo<T> type, string what) where T : class
    {
        ArgumentNullException.ThrowIfNull(machine);
        try
        {
            return JsonSerializer.Deserialize(machine, type) ?? throw StrataException.Invalid("machine", $"{what} is empty");
        }
        catch (JsonException e)
        {
            throw StrataException.Invalid("machine", $"{what} is not readable ({e.Message}); are both daemons the same version?");
        }
    }

    /// <summary>
    /// On the target: the moving <paramref name="guest"/>'s writable disks, each created at <paramref name="overlay"/>.
    /// Both QEMU tiers move only their root disk (<paramref name="rootDevice"/>); any other drive, and any disk
    /// <see cref="IncomingVm.CheckDisks"/> refuses, is refused before anything is created.
    /// </summary>
    public static List<IncomingDisk> IncomingDisks(IReadOnlyList<MoveDisk> moved, string rootDevice, string overlay, string guest)
    {
        ArgumentNullException.ThrowIfNull(moved);
        var disks = new List<IncomingDisk>();
        foreach (var d in moved)
        {
            if (d.Device != rootDevice)
            {
                throw StrataException.Invalid("disks", $"the moving {guest} has a writable drive '{d.Device}'; a {guest} of this tier has only its root disk ('{rootDevice}')");
            }
            disks.Add(new IncomingDisk(d.Device, overlay, d.Format, d.SizeBytes));
        }
        IncomingVm.CheckDisks(disks);
        return disks;
    }

    /// <summary>On the target, a QEMU started with <c>-incoming defer</c>: NBD exports for <paramref name="disks"/>, then <c>migrate-incoming</c> on TCP.</summary>
    public static async Task<IncomingMoveInfo> ReceiveAsync(QmpClient qmp, IReadOnlyList<IncomingDisk> disks, string listenHost, bool postcopy,
        CancellationToken cancellationToken)
    {
        var (ramUri, nbd) = await IncomingVm.ReceiveAsync(qmp, disks, MigrationChannel.Tcp(listenHost, 0),
            disks.Count > 0 ? MigrationChannel.Tcp(listenHost, 0) : null, postcopy, cancellationToken).ConfigureAwait(false);
        return new IncomingMoveInfo
        {
            RamUri = ramUri,
            NbdHost = nbd?.Host,
            NbdPort = nbd?.Port ?? 0,
            Disks = [.. disks.Select(d => d.Device)],
        };
    }

    /// <summary>On a source after a daemon restart: its migration completed and it stands stopped (<c>postmigrate</c>), the guest handed over.</summary>
    public static async Task<bool> HandedOverAsync(QmpClient qmp, CancellationToken cancellationToken) =>
        await RunStateAsync(qmp, cancellationToken).ConfigureAwait(false) == "postmigrate";

    /// <summary>Runs a handed-over source again (<c>cont</c> takes its disks back); one already running is left as it is.</summary>
    public static async Task ResumeHandedOverAsync(QmpClient qmp, CancellationToken cancellationToken)
    {
        var state = await RunStateAsync(qmp, cancellationToken).ConfigureAwait(false);
        if (state is "postmigrate" or "paused" or "finish-migrate")
        {
            await qmp.ExecuteAsync("cont", null, cancellationToken).ConfigureAwait(false);
        }
        else if (state != "running")
        {
            throw new StrataException(ErrorKind.Conflict, $"the guest is '{state}' here and cannot be resumed");
        }
    }

    private static async Task<string> RunStateAsync(QmpClient qmp, CancellationToken cancellationToken) =>
        (await qmp.ExecuteAsync("query-status", null, cancellationToken).ConfigureAwait(false)).GetProperty("status").GetString() ?? "";

    private static LiveMoveProgress ToMoveProgress(MigrationProgress p) => new()
    {
        Phase = p.Phase switch
        {
            MigrationPhase.CopyingDisks => "copying-disks",
            MigrationPhase.SendingRam => "sending-ram",
            MigrationPhase.Postcopy => "postcopy",
            MigrationPhase.SwitchingOver => "switching-over",
            _ => "completed",
        },
        RamTransferred = p.RamTransferred,
        RamRemaining = p.RamRemaining,
        RamTotal = p.RamTotal,
        DirtyRate = p.DirtyRate,
        ExpectedDowntimeMs = p.ExpectedDowntime?.TotalMilliseconds,
        Iterations = p.Iterations,
        ThrottlePercent = p.ThrottlePercent,
        DiskCopied = p.DiskCopied,
        DiskTotal = p.DiskTotal,
    };

    /// <summary>The engine's view of a target another daemon prepared: its addresses, and its confirm and discard calls.</summary>
    private sealed class RemoteTarget(IMoveTarget target) : IMigrationTarget
    {
        private readonly TaskCompletionSource _gone = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public string RamUri => target.Info.RamUri;

        public MigrationChannel? Nbd => target.Info.NbdHost is { } host ? MigrationChannel.Tcp(host, target.Info.NbdPort) : null;

        public IReadOnlyList<string> Disks => target.Info.Disks;

        // The other daemon's QEMU is not watched from here: the migration's own status tells when it went away.
        public Task Exited => _gone.Task;

        public Task ConfirmRunningAsync(TimeSpan timeout, CancellationToken cancellationToken) => target.ConfirmRunningAsync(timeout, cancellationToken);

        public bool MayHoldGuest => target.MayHoldGuest;

        public async Task DiscardAsync()
        {
            await target.DiscardAsync().ConfigureAwait(false);
            _gone.TrySetResult();
        }
    }
}
