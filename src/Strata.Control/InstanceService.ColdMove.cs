using System.Diagnostics;
using System.Formats.Tar;
using Microsoft.Extensions.Logging;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Contracts.Host;
using Strata.Store;

namespace Strata.Control;

/// <summary>The daemon an instance moves to cold, as the source's control plane talks to it (over its API, authenticated).</summary>
public interface IColdMoveDestination
{
    /// <summary>How the destination is named in messages and in the move's result (its address).</summary>
    string Name { get; }

    /// <summary>Creates the instance there from the same spec, not started (its networks by name, its published ports).</summary>
    Task<InstanceInfo> CreateAsync(InstanceSpec spec, CancellationToken cancellationToken);

    /// <summary>
    /// The switch: the destination takes the captured state (an archive of the capture directory, or null) and starts
    /// the instance from it (<paramref name="start"/>) or puts it in place.
    /// </summary>
    Task<InstanceInfo> MoveInAsync(string name, string? stateArchive, bool start, CancellationToken cancellationToken);

    /// <summary>Removes the instance the move created there (force); one already gone is not an error.</summary>
    Task RemoveAsync(string name, CancellationToken cancellationToken);

    /// <summary>How to reach this destination again after a restart, to settle a move the daemon died in; null: it cannot be reached again.</summary>
    MoveDestinationRef? Reference => null;

    /// <summary>The instance of that name there, or null when there is none.</summary>
    Task<InstanceInfo?> FindAsync(string name, CancellationToken cancellationToken) =>
        Task.FromException<InstanceInfo?>(new StrataException(ErrorKind.Unavailable, $"{Name} cannot be asked for an instance"));

    /// <summary>Before anything stops: refuses (409, naming the volume and the fix) when the destination's project has a volume of that name with other content.</summary>
    Task CheckVolumeAsync(string volume, string digest, CancellationToken cancellationToken);

    /// <summary>Puts a managed volume's packed files and its labels in the destination's store for the project (kept as it is when the same content is there).</summary>
    Task<VolumeArrival> MoveVolumeInAsync(string volume, string archive, string digest, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken);

    /// <summary>The undo of <see cref="MoveVolumeInAsync"/> that created the volume: removes it there unless an instance mounts it.</summary>
    Task RemoveVolumeAsync(string volume, CancellationToken cancellationToken);

    /// <summary>The ID of the image <paramref name="reference"/> names on the destination, or null when it has none.</summary>
    Task<string?> ImageIdAsync(string reference, CancellationToken cancellationToken);

    /// <summary>Streams an image (<paramref name="write"/> writes its OCI layout tar) into the destination's image store, under its name.</summary>
    Task ImportImageAsync(CarriedImage image, Func<Stream, CancellationToken, Task> write, CancellationToken cancellationToken);

    /// <summary>The undo of <see cref="ImportImageAsync"/>: removes the name there if it names <paramref name="id"/> and no instance uses it.</summary>
    Task RemoveImageAsync(string name, string id, CancellationToken cancellationToken);
}

/// <summary>One step of a cold move, for the operation's progress.</summary>
public sealed record ColdMoveStep(string Phase, int Step, int Steps, string Message)
{
    /// <summary>While an image the destination lacks is sent: its bytes sent so far (else null).</summary>
    public long? ImageBytes { get; init; }

    /// <summary>The size of that image.</summary>
    public long ImageTotal { get; init; }
}

public sealed partial class InstanceService
{
    private const int ColdMoveSteps = 5;

    /// <summary>
    /// Why <paramref name="name"/> cannot move live here, or null when it can (the endpoint's check before an operation
    /// starts): its tier's reason, or, on a tier that moves both ways (the sandbox), this instance's own (its <c>-v</c>
    /// mounts, or that it does not run), so that a move without a mode goes cold.
    /// </summary>
    public string? WhyNotLive(string project, string name)
    {
        var record = Get(project, name);
        var driver = _drivers.Get(record.Tier);
        return driver switch
        {
            ILiveMoveDriver live when record.Handle is { } handle && live.WhyNotLiveFor(handle) is { } why => why,
            ILiveMoveDriver when driver is IColdMoveDriver && record.State != InstanceState.Running =>
                $"instance '{name}' is {record.State.ToName()}, and only a running instance moves live",
            ILiveMoveDriver => null,
            IColdMoveDriver cold => cold.WhyNotLive,
            _ => $"the {record.Tier.ToName()} tier cannot move live; live moves are built for the vm and sandbox tiers (see docs/move.md)",
        };
    }

    /// <summary>Whether <paramref name="name"/>'s tier moves cold; refuses (400) naming why not.</summary>
    public void EnsureColdMovable(string project, string name)
    {
        var record = Get(project, name);
        if (_drivers.Get(record.Tier) is not IColdMoveDriver)
        {
            throw record.Tier is Tier.Vm
                ? StrataException.Invalid("mode", $"the {record.Tier.ToName()} tier moves live (leave out --cold); cold moves of VMs are not built")
                : StrataException.Invalid("tier",
                    $"the {record.Tier.ToName()} tier cannot move: live moves are built for the vm and sandbox tiers, cold moves for the container, wasm, process and sandbox tiers (see docs/move.md)");
        }
        if (record.State is InstanceState.Creating or InstanceState.Stopping || record.Handle is null)
        {
            throw StrataException.Conflict($"instance '{name}' is {record.State.ToName()}; wait until it is running or stopped");
        }
    }

    /// <summary>
    /// Moves an instance cold to <paramref name="destination"/>: what its tier carries is captured (a container's
    /// writable layer after it stopped, a stepped wasm module's memory while it runs), the instance stops here, the
    /// destination creates it from the same spec and starts it from the captured state (or leaves it stopped, as it
    /// was), and only then is it removed here. Until that switch, a failure or cancellation removes what the
    /// destination made and restarts the instance here if it ran: exactly one copy is left either way.
    /// </summary>
    public async Task<MoveResult> ColdMoveOutAsync(string project, string name, IColdMoveDestination destination,
        IProgress<ColdMoveStep>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(destination);
        EnsureColdMovable(project, name);
        var entry = Find(project, name);
        var record = entry.Record;
        var mover = (IColdMoveDriver)_drivers.Get(record.Tier);
        var running = record.State == InstanceState.Running;
        var plan = mover.PlanColdMove(record.Handle!, running);
        // On a tier that also moves live (the sandbox), the result says why this move was cold.
        var modeReason = mover is ILiveMoveDriver ? WhyNotLive(project, name) ?? "asked for (--cold)" : null;
        var volumes = ManagedVolumesOf(project, record.Spec);
        var clock = Stopwatch.StartNew();
        var work = Path.Combine(InstanceDirectory(record.Id), "move-out");
        var archive = work + ".tar";
        LogColdMoveStarting(name, project, destination.Name, plan.Carries);
        await using var revert = new Revert(e => LogBackgroundFailure(name, "undo a failed cold move to " + destination.Name, e));
        revert.Add(() =>
        {
            TryDeleteDirectory(work);
            File.Delete(archive);
        });
        // Before anything stops: a volume the target has under the same name with other content refuses the move.
        await CheckVolumesAsync(project, volumes, destination, cancellationToken).ConfigureAwait(false);
        // Still before the stop (no downtime): the image goes along when the target lacks it.
        var image = await CarryImageAsync(name, record.Spec, destination, progress, revert, cancellationToken).ConfigureAwait(false);
        TryDeleteDirectory(work);
        Directory.CreateDirectory(work, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        // Before anything stops: a daemon that dies from here on settles the move at its next start (ColdMoveSettle).
        // Its undo is registered first, so it runs last: after the copy there is removed and this one started again.
        if (destination.Reference is { } reference)
        {
            var directory = InstanceDirectory(record.Id);
            revert.Add(() => ColdMoveOutMarker.Delete(directory));
            new ColdMoveOutMarker
            {
                Address = reference.Address, Token = reference.Token, CertificateSha256 = reference.CertificateSha256,
                Project = project, Name = name, InstanceId = record.Id, WasRunning = running, At = _time.GetUtcNow(),
            }.Write(directory);
        }
        if (plan.Capture == ColdMoveCapture.WhileRunning)
        {
            progress?.Report(new ColdMoveStep("capturing", 1, ColdMoveSteps, "capturing " + plan.Carries));
            await mover.CaptureForMoveAsync(record.Handle!, work, cancellationToken).ConfigureAwait(false);
        }
        var stoppedAt = clock.Elapsed;
        if (running)
        {
            progress?.Report(new ColdMoveStep("stopping", 2, ColdMoveSteps, "stopping it here"));
            // Registered first: a stop cancelled half-way still leaves an instance to start again.
            // A module captured while running starts again from that capture, so a failed move loses none of its steps.
            var restartFrom = plan.Capture == ColdMoveCapture.WhileRunning ? work : null;
            revert.AddAsync(() => RestartAfterFailedMoveAsync(project, name, mover, restartFrom));
            stoppedAt = clock.Elapsed;
            await StopAsync(project, name, TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
        }
        await entry.Lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            record = entry.Record;
            if (record.State.IsActive())
            {
                throw StrataException.Conflict($"instance '{name}' was started again during its move; the move is given up");
            }
            if (plan.Capture == ColdMoveCapture.AfterStop)
            {
                progress?.Report(new ColdMoveStep("capturing", 2, ColdMoveSteps, "capturing " + plan.Carries));
                await mover.CaptureForMoveAsync(record.Handle!, work, cancellationToken).ConfigureAwait(false);
            }
            string? state = null;
            if (plan.Capture != ColdMoveCapture.None)
            {
                await TarFile.CreateFromDirectoryAsync(work, archive, includeBaseDirectory: false, cancellationToken).ConfigureAwait(false);
                state = archive;
            }
            progress?.Report(new ColdMoveStep("creating", 3, ColdMoveSteps, $"creating it on {destination.Name}"
                + (volumes.Count == 0 ? "" : $" with its volumes {string.Join(", ", volumes.Select(v => v.Name))}")));
            var spec = await CarryVolumesAsync(project, record.Spec with { Name = name }, volumes, destination,
                InstanceDirectory(record.Id), revert, cancellationToken).ConfigureAwait(false);
            // Not cancellable half-way: a create the caller gave up on could still finish there, unknown to the undo.
            using (var limit = new CancellationTokenSource(TimeSpan.FromMinutes(10)))
            {
                await destination.CreateAsync(spec, limit.Token).ConfigureAwait(false);
            }
            revert.AddAsync(() => destination.RemoveAsync(name, CancellationToken.None));
            cancellationToken.ThrowIfCancellationRequested();
            progress?.Report(new ColdMoveStep("switching", 4, ColdMoveSteps,
                (running ? "starting it on " : "placing it on ") + destination.Name + (state is null ? "" : $" ({new FileInfo(state).Length / 1024} KiB of state)")));
            var stateBytes = state is null ? 0 : new FileInfo(state).Length;
            await destination.MoveInAsync(name, state, running, cancellationToken).ConfigureAwait(false);
            revert.Success();
            var downtime = clock.Elapsed - stoppedAt;
            progress?.Report(new ColdMoveStep("completed", 5, ColdMoveSteps, $"running on {destination.Name}; removing it here"));
            _events.Publish("moved", View(record));
            await DeleteLockedAsync(entry).ConfigureAwait(false);
            var kept = RemoveMovedVolumes(project, name, volumes);
            LogColdMovedOut(name, project, destination.Name, clock.Elapsed.TotalSeconds);
            return new MoveResult
            {
                Name = name,
                Project = project,
                To = destination.Name,
                Mode = "cold",
                ModeReason = modeReason,
                Carried = CarriedWithVolumes(plan.Carries, volumes) + (image is null ? "" : $"; image {image.Name}"),
                Image = image is null ? null : $"{image.Name} ({image.Id})",
                ImageBytes = image?.Bytes ?? 0,
                Volumes = volumes.Count == 0 ? null : [.. volumes.Select(v => v.Name)],
                VolumesKeptHere = kept.Count == 0 ? null : kept,
                TotalSeconds = clock.Elapsed.TotalSeconds,
                DowntimeMs = running ? downtime.TotalMilliseconds : 0,
                DiskBytes = stateBytes,
            };
        }
        finally
        {
            entry.Lock.Release();
        }
    }

    private async Task RestartAfterFailedMoveAsync(string project, string name, IColdMoveDriver mover, string? state)
    {
        var entry = Find(project, name);
        if (entry.Record.State == InstanceState.Stopping)
        {
            await entry.Exit.Task.WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        }
        await entry.Lock.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            var record = entry.Record;
            if (record.State.IsActive())
            {
                return;
            }
            InstanceStateMachine.EnsureTransition(name, record.State, InstanceState.Running, "start");
            await StartLockedAsync(entry, record.RestartCount, CancellationToken.None,
                state is null ? null : (_, h) => mover.StartMovedAsync(h, state, CancellationToken.None)).ConfigureAwait(false);
        }
        finally
        {
            entry.Lock.Release();
        }
    }

    // ---------------------------------------------------------------- the destination side

    /// <summary>
    /// The switch of a cold move, on the destination: the instance the source created here (not started) takes the
    /// captured state (<paramref name="state"/>: an archive of the capture directory, or null) and starts from it,
    /// or, when it was not running at the source, keeps it in place and stays created.
    /// </summary>
    public async Task<InstanceRecord> MoveInAsync(string project, string name, Stream? state, bool start, CancellationToken cancellationToken)
    {
        var entry = Find(project, name);
        await entry.Lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var record = entry.Record;
            if (record.State != InstanceState.Created || record.Handle is not { } handle)
            {
                throw StrataException.Conflict($"instance '{name}' is {record.State.ToName()}; a cold move arrives in an instance just created for it");
            }
            if (_drivers.Get(record.Tier) is not IColdMoveDriver mover)
            {
                throw StrataException.Invalid("tier", $"the {record.Tier.ToName()} tier cannot receive a cold move on this daemon");
            }
            var work = Path.Combine(InstanceDirectory(record.Id), "move-in");
            TryDeleteDirectory(work);
            try
            {
                if (state is not null)
                {
                    Directory.CreateDirectory(work, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                    await TarFile.ExtractToDirectoryAsync(state, work, overwriteFiles: false, cancellationToken).ConfigureAwait(false);
                }
                if (start)
                {
                    await StartLockedAsync(entry, 0, cancellationToken,
                        state is null ? null : (_, h) => mover.StartMovedAsync(h, work, cancellationToken)).ConfigureAwait(false);
                }
                else if (state is not null)
                {
                    await mover.PlaceMovedStateAsync(handle, work, cancellationToken).ConfigureAwait(false);
                }
            }
            finally
            {
                TryDeleteDirectory(work);
            }
            if (start && entry.Record.State != InstanceState.Running)
            {
                throw new StrataException(ErrorKind.Unavailable, $"instance '{name}' did not start here: {entry.Record.Reason}");
            }
            _events.Publish("moved", View(entry.Record));
            LogColdMovedIn(name, project);
            return entry.Record;
        }
        finally
        {
            entry.Lock.Release();
        }
    }

    [LoggerMessage(EventId = 2050, Level = LogLevel.Information, Message = "moving instance {Name} of project {Project} cold to {Destination}, carrying {Carries}")]
    private partial void LogColdMoveStarting(string name, string project, string destination, string carries);

    [LoggerMessage(EventId = 2051, Level = LogLevel.Information, Message = "instance {Name} of project {Project} moved cold to {Destination} in {Seconds:0.00} s; removed here")]
    private partial void LogColdMovedOut(string name, string project, string destination, double seconds);

    [LoggerMessage(EventId = 2081, Level = LogLevel.Information, Message = "cold move of instance {Name}: sent image {Image} ({ImageId}, {Bytes} bytes) to {Destination}, which lacked it")]
    private partial void LogColdMoveCarriedImage(string name, string image, string imageId, string destination, long bytes);

    [LoggerMessage(EventId = 2052, Level = LogLevel.Information, Message = "instance {Name} of project {Project} arrived by a cold move")]
    private partial void LogColdMovedIn(string name, string project);
}
