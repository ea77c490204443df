using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Contracts.Host;
using Strata.Policy.Admission;
using Strata.Store;

namespace Strata.Control;

/// <summary>The daemon an instance moves to, as the source's control plane talks to it (over its API, authenticated).</summary>
public interface IMoveDestination
{
    /// <summary>How the destination is named in messages and in the move's result (its address).</summary>
    string Name { get; }

    /// <summary>The address the destination's QEMU listens on for the source (the host the source reached its API at).</summary>
    string ListenHost { get; }

    Task<IncomingMoveInfo> PrepareAsync(string name, IncomingMoveRequest request, CancellationToken cancellationToken);

    Task ConfirmAsync(string name, TimeSpan timeout, CancellationToken cancellationToken);

    /// <summary>Removes what the destination prepared; an already discarded (or never prepared) move is not an error.</summary>
    Task DiscardAsync(string name, CancellationToken cancellationToken);

    /// <summary>How to reach this destination again after a restart, to settle a move whose confirmation was lost; null: it cannot be reached again.</summary>
    MoveDestinationRef? Reference => null;

    /// <summary>Whether the destination stores instance <paramref name="instanceId"/> as <paramref name="name"/>: it confirmed the move and owns the instance.</summary>
    Task<bool> HoldsAsync(string name, string instanceId, CancellationToken cancellationToken) =>
        Task.FromException<bool>(new StrataException(ErrorKind.Unavailable, $"{Name} cannot be asked whether it holds a moved instance"));
}

public sealed partial class InstanceService
{
    /// <summary>How long the target may take to run the guest once the source completed.</summary>
    private static readonly TimeSpan MoveConfirmTimeout = TimeSpan.FromSeconds(30);

    // Receiving sides prepared and not yet confirmed, by project/name: not in the store, not listed, not counted twice.
    private readonly ConcurrentDictionary<string, Entry> _incoming = new(StringComparer.Ordinal);

    // ---------------------------------------------------------------- the source side

    /// <summary>
    /// Moves a running instance to <paramref name="destination"/> live: the destination prepares the receiving side,
    /// the driver migrates, the destination confirms the guest runs there, and this daemon forgets the instance (its
    /// record and files go). A failure or cancellation at any step leaves the instance running here, untouched, and
    /// nothing on the destination. The instance's lock is held throughout: no stop, start or removal interleaves.
    /// </summary>
    public async Task<MoveResult> MoveOutAsync(string project, string name, IMoveDestination destination, LiveMoveOptions options,
        IProgress<LiveMoveProgress>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(destination);
        var entry = Find(project, name);
        await entry.Lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var record = entry.Record;
            if (record.State != InstanceState.Running || record.Handle is not { } handle)
            {
                throw StrataException.Conflict($"instance '{name}' is {record.State.ToName()}; only a running instance moves live (start it first)");
            }
            var driver = _drivers.Get(record.Tier);
            if (driver is not ILiveMoveDriver mover)
            {
                throw StrataException.Invalid("tier",
                    $"the {record.Tier.ToName()} tier cannot move live; live moves are built for the vm and sandbox tiers (the container, wasm and process tiers move cold: --cold; see docs/move.md)");
            }
            var outgoing = await mover.DescribeMoveAsync(handle, cancellationToken).ConfigureAwait(false);
            LogMoveStarting(name, project, destination.Name);
            var target = new DestinationTarget(this, destination, name, project, record.Id);
            var directory = InstanceDirectory(record.Id);
            try
            {
            await using (var revert = new Revert(e => LogBackgroundFailure(name, "undo a failed move on " + destination.Name, e)))
            {
                // Before anything exists there: a daemon that dies from here on finds where the guest may have gone.
                if (destination.Reference is { } reference)
                {
                    revert.Add(() =>
                    {
                        if (!target.MayHoldGuest)
                        {
                            MoveOutMarker.Delete(directory);
                        }
                    });
                    new MoveOutMarker { Address = reference.Address, Token = reference.Token, CertificateSha256 = reference.CertificateSha256, Project = project, Name = name, InstanceId = record.Id }.Write(directory);
                }
                // Registered before the call: a prepare that timed out on our side may still have made something there.
                revert.AddAsync(target.DiscardAsync);
                target.Info = await destination.PrepareAsync(name, new IncomingMoveRequest
                {
                    InstanceId = record.Id,
                    Tier = record.Tier.ToName(),
                    Spec = record.Spec,
                    CreatedAt = record.CreatedAt,
                    Machine = outgoing.Machine,
                    Disks = outgoing.Disks,
                    Network = outgoing.Network,
                    Postcopy = options.Postcopy,
                    ListenHost = destination.ListenHost,
                }, cancellationToken).ConfigureAwait(false);
                var result = await mover.MoveOutAsync(handle, target, options, progress, cancellationToken).ConfigureAwait(false);
                revert.Success();
                // The guest runs on the destination, which owns the instance now: this copy (QEMU postmigrate) goes.
                _events.Publish("moved", View(record) with { Reason = MoveSummary(result, destination.Name) });
                await DeleteLockedAsync(entry).ConfigureAwait(false);
                LogMovedOut(name, project, destination.Name, result.TotalSeconds);
                return result with { Name = name, Project = project, To = destination.Name };
            }
            }
            catch (StrataException) when (target.MayHoldGuest)
            {
                // Switched over, and the destination stopped answering before it confirmed: the copy here stays stopped
                // and is settled once the destination answers (removed if it runs the guest, resumed if it holds none).
                _events.Publish("move-unsettled", View(record) with
                {
                    Reason = $"the guest switched over to {destination.Name}, which stopped answering before it confirmed; the copy here stays stopped until {destination.Name} answers",
                });
                if (MoveOutMarker.TryRead(directory) is { } marker)
                {
                    Track(SettleHandedOverAsync(entry, marker));
                }
                throw;
            }
        }
        finally
        {
            entry.Lock.Release();
        }
    }

    /// <summary>A finished move's numbers, as the source's <c>moved</c> event carries them (its reason).</summary>
    internal static string MoveSummary(MoveResult r, string destination) => string.Create(System.Globalization.CultureInfo.InvariantCulture,
        $"moved to {destination} ({r.Mode}) in {r.TotalSeconds:0.00} s: downtime {r.DowntimeMs:0} ms, {r.RamBytes} bytes of RAM and {r.DiskBytes} bytes of disk sent, {r.Iterations} passes, throttle up to {r.MaxThrottlePercent} %{(r.UsedPostcopy ? ", postcopy" : "")}");

    /// <summary>
    /// The destination as the driver's move drives it. It records whether the destination confirmed, so the undo never
    /// discards an owner, and settles a lost confirmation (docs/move.md, "Crash windows"): from the switchover on the
    /// guest has left here, so a cancel no longer undoes the move, and a confirmation that fails is asked about again
    /// (<see cref="SettleWithAsync"/>) until the destination answers who holds the guest. While that is unknown the
    /// target <see cref="MayHoldGuest"/>, and the undo neither discards it nor resumes the source.
    /// </summary>
    private sealed class DestinationTarget(InstanceService service, IMoveDestination destination, string name, string project, string instanceId) : IMoveTarget
    {
        private int _confirmed;
        private int _inDoubt;

        public IncomingMoveInfo Info { get; set; } = new() { RamUri = "" };

        public bool MayHoldGuest => Volatile.Read(ref _inDoubt) == 1;

        public async Task ConfirmRunningAsync(TimeSpan timeout, CancellationToken cancellationToken)
        {
            _ = cancellationToken; // the guest left here at the switchover: a cancel can no longer undo the move
            try
            {
                using var limit = CancellationTokenSource.CreateLinkedTokenSource(service._shutdown.Token);
                limit.CancelAfter(timeout + TimeSpan.FromSeconds(30));
                await destination.ConfirmAsync(name, timeout, limit.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is StrataException or OperationCanceledException)
            {
                // Whatever happens from here on, the undo must not resume the source before the destination has answered.
                Volatile.Write(ref _inDoubt, 1);
                var owner = await service.SettleWithAsync(destination, name, project, instanceId, InlineSettleTime).ConfigureAwait(false);
                if (owner == MoveOwner.Source)
                {
                    Volatile.Write(ref _inDoubt, 0);
                    throw new StrataException(ErrorKind.Unavailable,
                        $"the target daemon {destination.Name} did not take the guest over ({e.Message}) and holds no copy of it; the guest runs on here");
                }
                if (owner == MoveOwner.Unknown)
                {
                    throw new StrataException(ErrorKind.Unavailable,
                        $"the guest switched over to {destination.Name}, which stopped answering before it confirmed ({e.Message}); the copy here stays stopped until {destination.Name} answers, then it is removed (the target runs the guest) or resumed (the target holds none)");
                }
            }
            Volatile.Write(ref _confirmed, 1);
        }

        public Task DiscardAsync() =>
            Volatile.Read(ref _confirmed) == 1 || MayHoldGuest ? Task.CompletedTask : destination.DiscardAsync(name, CancellationToken.None);
    }

    // ---------------------------------------------------------------- the destination side

    /// <summary>
    /// Prepares the receiving side of a live move: the name is reserved and counted against the project's quota, the
    /// driver starts the receiving machine. Nothing is stored or listed until <see cref="ConfirmIncomingAsync"/>; a
    /// removal marker in its directory makes a daemon that dies meanwhile remove it at its next start.
    /// </summary>
    public async Task<IncomingMoveInfo> PrepareIncomingAsync(string project, string name, IncomingMoveRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var tier = SpecValidator.ParseTier(request.Tier, _options.AllowFakeTier)
            ?? throw StrataException.Invalid("tier", "a move names the instance's tier");
        if (_drivers.Get(tier) is not ILiveMoveDriver mover)
        {
            throw StrataException.Invalid("tier", $"the {tier.ToName()} tier cannot receive a live move on this daemon");
        }
        if (!Guid.TryParseExact(request.InstanceId, "N", out _))
        {
            throw StrataException.Invalid("instanceId", $"'{request.InstanceId}' is not an instance id (32 hex digits)");
        }
        var projectRecord = _options.Projects is { } projects ? projects.Get(project) : null;
        if (projectRecord is not null)
        {
            // The receiving project's rules hold as for a create: a move is no way around them.
            ProjectAdmission.CheckRestrictions(project, projectRecord.Restrictions, request.Spec, tier);
        }
        var entry = new Entry(new InstanceRecord
        {
            Id = request.InstanceId,
            Project = project,
            Name = name,
            Tier = tier,
            State = InstanceState.Creating,
            Spec = request.Spec with { Name = name, Tier = tier.ToName() },
            CreatedAt = request.CreatedAt,
            Revision = 1,
        });
        if (_entries.ContainsKey(request.InstanceId))
        {
            throw StrataException.Conflict($"this daemon already holds an instance with id {request.InstanceId}; the instance is here already");
        }
        var directory = InstanceDirectory(request.InstanceId);
        Admit(entry, projectRecord);
        await using var revert = new Revert(e => LogBackgroundFailure(name, "undo a failed incoming move", e));
        revert.Add(() => Forget(entry, directory));
        Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var prepared = await mover.PrepareIncomingAsync(new IncomingMove
        {
            InstanceId = request.InstanceId,
            Name = name,
            Project = project,
            Directory = directory,
            Spec = entry.Record.Spec,
            Machine = request.Machine,
            Disks = request.Disks,
            Network = request.Network,
            Postcopy = request.Postcopy,
            ListenHost = request.ListenHost,
        }, cancellationToken).ConfigureAwait(false);
        revert.AddAsync(() => _drivers.Get(tier).DeleteAsync(prepared.Handle, CancellationToken.None));
        RemovalMarker.TryWrite(directory, tier, prepared.Handle);
        entry.Record = entry.Record with { Handle = prepared.Handle };
        if (!_incoming.TryAdd(Key(project, name), entry))
        {
            throw StrataException.Conflict($"a move of '{name}' into project '{project}' is already being received");
        }
        revert.Success();
        entry.IncomingWatch = CancellationTokenSource.CreateLinkedTokenSource(_shutdown.Token);
        Track(DiscardWhenEndedAsync(entry, _drivers.Get(tier), prepared.Handle, entry.IncomingWatch.Token));
        LogMoveIncoming(name, project);
        return prepared.Info;
    }

    /// <summary>
    /// A receiving side whose process ends before the move is confirmed (the source cancelled or died and its stream
    /// broke) is removed at once, not left for a call that may never come.
    /// </summary>
    private async Task DiscardWhenEndedAsync(Entry entry, IDriver driver, DriverHandle handle, CancellationToken confirmedOrShutdown)
    {
        try
        {
            await driver.WaitAsync(handle, confirmedOrShutdown).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return; // confirmed (the instance's own watcher takes over), or the daemon stops (the removal marker finishes it)
        }
        catch (Exception e) when (e is StrataException or IOException)
        {
        }
        var key = Key(entry.Record.Project, entry.Record.Name);
        if (_incoming.TryGetValue(key, out var current) && ReferenceEquals(current, entry))
        {
            try
            {
                await DiscardIncomingAsync(entry.Record.Project, entry.Record.Name).ConfigureAwait(false);
            }
            catch (Exception e) when (e is StrataException or IOException)
            {
                LogBackgroundFailure(entry.Record.Name, "remove an incoming move whose receiving side ended", e);
            }
        }
    }

    /// <summary>
    /// The guest runs here: the instance is stored as running, watched, and owned by this daemon from now on. The work
    /// does not depend on the caller staying connected (a source that died or lost the answer asks again and gets the
    /// same outcome, <see cref="Entry.Confirmation"/>); the receiving side stays known until the outcome is stored.
    /// </summary>
    public async Task<InstanceRecord> ConfirmIncomingAsync(string project, string name, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (!_incoming.TryGetValue(Key(project, name), out var entry))
        {
            throw StrataException.NotFound($"no move of '{name}' is being received in project '{project}'");
        }
        var started = new TaskCompletionSource<InstanceRecord>(TaskCreationOptions.RunContinuationsAsynchronously);
        var confirmation = Interlocked.CompareExchange(ref entry.Confirmation, started.Task, null);
        if (confirmation is null)
        {
            confirmation = started.Task;
            _ = ConfirmIncomingCoreAsync(entry, timeout < TimeSpan.Zero ? MoveConfirmTimeout : timeout).ContinueWith(t =>
            {
                if (t.IsCompletedSuccessfully)
                {
                    started.SetResult(t.Result);
                }
                else
                {
                    started.SetException(t.Exception?.InnerExceptions ?? [new OperationCanceledException()]);
                }
            }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
        return await confirmation.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<InstanceRecord> ConfirmIncomingCoreAsync(Entry entry, TimeSpan timeout)
    {
        var key = Key(entry.Record.Project, entry.Record.Name);
        try
        {
            await StopIncomingWatchAsync(entry).ConfigureAwait(false);
            var record = entry.Record;
            var driver = _drivers.Get(record.Tier);
            var directory = InstanceDirectory(record.Id);
            await using var revert = new Revert(e => LogBackgroundFailure(record.Name, "undo a failed incoming move", e));
            revert.Add(() => Forget(entry, directory));
            revert.AddAsync(() => driver.DeleteAsync(record.Handle!, CancellationToken.None));
            await ((ILiveMoveDriver)driver).ConfirmIncomingAsync(record.Handle!, timeout, _shutdown.Token).ConfigureAwait(false);
            // From the store write on, this daemon owns the instance (a crash after it reconciles it as any running instance).
            entry.Record = record with { State = InstanceState.Running, StartedAt = _time.GetUtcNow(), Revision = 2 };
            await _store.InsertAsync(entry.Record, CancellationToken.None).ConfigureAwait(false);
            File.Delete(Path.Combine(directory, RemovalMarker.FileName));
            revert.Success();
            Interlocked.Increment(ref entry.Generation);
            Watch(entry, driver, record.Handle!);
            _events.Publish("moved", View(entry.Record));
            return entry.Record;
        }
        finally
        {
            _incoming.TryRemove(new KeyValuePair<string, Entry>(key, entry));
        }
    }

    /// <summary>
    /// Removes a receiving side that was not confirmed; a move not (or no longer) being received is not an error. One
    /// whose confirmation is under way is left to it: the guest runs here once it succeeds, and it removes the side when it fails.
    /// </summary>
    public async Task DiscardIncomingAsync(string project, string name)
    {
        if (!_incoming.TryGetValue(Key(project, name), out var entry))
        {
            return;
        }
        if (Volatile.Read(ref entry.Confirmation) is { } confirmation)
        {
            try
            {
                await confirmation.ConfigureAwait(false);
            }
            catch (Exception e) when (e is StrataException or IOException or OperationCanceledException)
            {
                // the failed confirmation removed it
            }
            return;
        }
        if (!_incoming.TryRemove(new KeyValuePair<string, Entry>(Key(project, name), entry)))
        {
            return;
        }
        await StopIncomingWatchAsync(entry).ConfigureAwait(false);
        var record = entry.Record;
        if (record.Handle is { } handle)
        {
            await _drivers.Get(record.Tier).DeleteAsync(handle, CancellationToken.None).ConfigureAwait(false);
        }
        Forget(entry, InstanceDirectory(record.Id));
    }

    private static async Task StopIncomingWatchAsync(Entry entry)
    {
        if (Interlocked.Exchange(ref entry.IncomingWatch, null) is { } watch)
        {
            await watch.CancelAsync().ConfigureAwait(false);
            watch.Dispose();
        }
    }

    [LoggerMessage(EventId = 2040, Level = LogLevel.Information, Message = "moving instance {Name} of project {Project} to {Destination}")]
    private partial void LogMoveStarting(string name, string project, string destination);

    [LoggerMessage(EventId = 2041, Level = LogLevel.Information, Message = "instance {Name} of project {Project} moved to {Destination} in {Seconds:0.00} s; removed here")]
    private partial void LogMovedOut(string name, string project, string destination, double seconds);

    [LoggerMessage(EventId = 2042, Level = LogLevel.Information, Message = "receiving a move of instance {Name} into project {Project}")]
    private partial void LogMoveIncoming(string name, string project);
}
