namespace Strata.Contracts.Drivers;

/// <summary>What the source's driver tells the target: its machine (opaque to the control plane), its writable disks and its network.</summary>
public sealed record OutgoingMove(string Machine, IReadOnlyList<MoveDisk> Disks, MoveNetwork? Network = null);

/// <summary>The receiving side of a live move, as the target's control plane asks its driver for it.</summary>
public sealed record IncomingMove
{
    public required string InstanceId { get; init; }
    public required string Name { get; init; }
    public required string Project { get; init; }
    public required string Directory { get; init; }
    public required InstanceSpec Spec { get; init; }
    public required string Machine { get; init; }
    public IReadOnlyList<MoveDisk> Disks { get; init; } = [];
    public MoveNetwork? Network { get; init; }
    public bool Postcopy { get; init; }
    public required string ListenHost { get; init; }
}

/// <summary>The prepared target: its handle (the receiving process runs, supervised) and where it listens.</summary>
public sealed record PreparedIncoming(DriverHandle Handle, IncomingMoveInfo Info);

/// <summary>The target of a live move as the source's driver drives it; it may be another daemon.</summary>
public interface IMoveTarget
{
    IncomingMoveInfo Info { get; }

    /// <summary>After the source completed: the guest runs on the target, which owns the instance from now on.</summary>
    Task ConfirmRunningAsync(TimeSpan timeout, CancellationToken cancellationToken);

    /// <summary>Removes everything the target made; the source keeps the guest.</summary>
    Task DiscardAsync();

    /// <summary>
    /// The guest went over and the target's answer was lost (it stopped answering after the switchover): the target may
    /// run the guest, so the undo neither discards it nor resumes the source (docs/move.md, "Crash windows").
    /// </summary>
    bool MayHoldGuest { get; }
}

/// <summary>How a live move runs.</summary>
public sealed record LiveMoveOptions
{
    /// <summary>Bytes per second for RAM and the disk copy; null: no limit.</summary>
    public long? MaxBandwidth { get; init; }
    public bool Postcopy { get; init; }
}

/// <summary>One progress report of a live move.</summary>
public sealed record LiveMoveProgress
{
    /// <summary><c>copying-disks</c>, <c>sending-ram</c>, <c>postcopy</c>, <c>switching-over</c>, <c>completed</c>.</summary>
    public required string Phase { get; init; }
    public long RamTransferred { get; init; }
    public long RamRemaining { get; init; }
    public long RamTotal { get; init; }
    public long DirtyRate { get; init; }
    public double? ExpectedDowntimeMs { get; init; }
    public long Iterations { get; init; }
    public int ThrottlePercent { get; init; }
    public long DiskCopied { get; init; }
    public long DiskTotal { get; init; }
}

/// <summary>
/// A tier whose running instances move live between daemons (the vm tier). The control plane drives it: the source
/// describes the move, the target prepares the receiving side, the source runs the move, the target confirms or discards.
/// </summary>
public interface ILiveMoveDriver
{
    /// <summary>
    /// Why this instance cannot move live though its tier can (a sandbox's <c>-v</c> mounts), or null. A tier that also
    /// moves cold (<see cref="IColdMoveDriver"/>) then moves it cold when no mode is asked.
    /// </summary>
    string? WhyNotLiveFor(DriverHandle handle) => null;

    /// <summary>What the target needs to receive this running instance; refuses, naming why, what cannot move.</summary>
    Task<OutgoingMove> DescribeMoveAsync(DriverHandle handle, CancellationToken cancellationToken);

    /// <summary>Starts the receiving side (supervised, so it outlives the daemon once it owns the guest); nothing is left when it fails.</summary>
    Task<PreparedIncoming> PrepareIncomingAsync(IncomingMove move, CancellationToken cancellationToken);

    /// <summary>Waits until the guest runs on this (target) side.</summary>
    Task ConfirmIncomingAsync(DriverHandle handle, TimeSpan timeout, CancellationToken cancellationToken);

    /// <summary>Moves the running guest to <paramref name="target"/>; on failure or cancellation the source runs on untouched and the target is discarded.</summary>
    Task<MoveResult> MoveOutAsync(DriverHandle handle, IMoveTarget target, LiveMoveOptions options, IProgress<LiveMoveProgress>? progress, CancellationToken cancellationToken);

    /// <summary>
    /// On the source after a daemon restart (the instance recovered as running): whether this copy handed its guest over,
    /// i.e. its migration completed and it stands stopped (QEMU <c>postmigrate</c>). A move that had not reached the
    /// switchover was already undone by the recovery, and the guest runs here.
    /// </summary>
    Task<bool> HandedOverAsync(DriverHandle handle, CancellationToken cancellationToken);

    /// <summary>Runs a handed-over copy again: the target turned out to hold no copy of the guest, so this one is the only one.</summary>
    Task ResumeHandedOverAsync(DriverHandle handle, CancellationToken cancellationToken);
}
