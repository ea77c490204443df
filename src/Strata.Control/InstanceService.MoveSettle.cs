using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using Strata.Contracts;
using Strata.Contracts.Drivers;

namespace Strata.Control;

/// <summary>How to reach a move's destination daemon again (kept, owner-only, in the source instance's directory until the move is settled).</summary>
/// <param name="CertificateSha256">The destination's pinned certificate when it speaks TLS as a cluster node (its node record's pin).</param>
public sealed record MoveDestinationRef(string Address, string Token, string? CertificateSha256 = null);

/// <summary>
/// <c>move-out.json</c> in a source instance's directory while a live move of it is unsettled: written before the
/// target prepares anything, deleted when the move is undone (the guest stays) or with the directory (the target owns it).
/// A daemon that starts and finds it settles the move with the destination it names (docs/move.md, "Crash windows").
/// </summary>
internal sealed record MoveOutMarker
{
    public const string FileName = "move-out.json";
    public const int CurrentVersion = 1;

    public int Version { get; init; } = CurrentVersion;
    public required string Address { get; init; }
    public required string Token { get; init; }
    public required string Project { get; init; }
    public required string Name { get; init; }
    public required string InstanceId { get; init; }
    public string? CertificateSha256 { get; init; }

    public MoveDestinationRef Destination => new(Address, Token, CertificateSha256);

    public void Write(string directory) => WriteOwnerOnly(Path.Combine(directory, FileName), this, MoveMarkerJsonContext.Default.MoveOutMarker);

    /// <summary>A marker that holds a token for the other daemon: owner-only from the first byte (like the admin token), flushed to disk.</summary>
    internal static void WriteOwnerOnly<T>(string path, T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
    {
        using var file = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        });
        JsonSerializer.Serialize(file, value, type);
        file.Flush(flushToDisk: true);
    }

    public static MoveOutMarker? TryRead(string directory) =>
        ReadMarker(Path.Combine(directory, FileName), MoveMarkerJsonContext.Default.MoveOutMarker) is { Version: CurrentVersion } marker ? marker : null;

    /// <summary>A marker's JSON, or null when it is missing, unreadable or damaged (the caller checks its version).</summary>
    internal static T? ReadMarker<T>(string path, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type) where T : class
    {
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllBytes(path), type);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            return null;
        }
    }

    public static void Delete(string directory) => File.Delete(Path.Combine(directory, FileName));
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(MoveOutMarker))]
[JsonSerializable(typeof(ColdMoveOutMarker))]
internal sealed partial class MoveMarkerJsonContext : JsonSerializerContext;

public sealed partial class InstanceService
{
    /// <summary>How long a move waits, inline, for a destination that stopped answering after the switchover before it leaves the settling to the background.</summary>
    private static readonly TimeSpan InlineSettleTime = TimeSpan.FromMinutes(5);

    private enum MoveOwner
    {
        Target,
        Source,
        Unknown,
    }

    /// <summary>
    /// Who holds the guest after a switchover whose confirmation was lost: the destination when it stores the instance
    /// (it confirmed) or confirms it now (its receiving side runs the guest); this side when the destination answers
    /// that it holds neither (it discarded its side, e.g. its daemon restarted and removed the unconfirmed copy);
    /// unknown while it does not answer. Never decides on a guess: until an answer, the caller keeps its copy stopped.
    /// </summary>
    private async Task<(MoveOwner Owner, string Why)> AskDestinationAsync(IMoveDestination destination, string name, string instanceId)
    {
        try
        {
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(_shutdown.Token);
            limit.CancelAfter(MoveConfirmTimeout + TimeSpan.FromSeconds(30));
            if (await destination.HoldsAsync(name, instanceId, limit.Token).ConfigureAwait(false))
            {
                return (MoveOwner.Target, $"{destination.Name} holds it");
            }
            // Not stored there: its receiving side may still wait for the confirmation, with the guest running in it.
            await destination.ConfirmAsync(name, MoveConfirmTimeout, limit.Token).ConfigureAwait(false);
            return (MoveOwner.Target, $"{destination.Name} confirmed it now");
        }
        catch (StrataException e) when (e.Kind == ErrorKind.NotFound)
        {
            return (MoveOwner.Source, $"{destination.Name} holds no copy of it");
        }
        catch (Exception e) when (e is StrataException or OperationCanceledException or HttpRequestException or IOException)
        {
            _shutdown.Token.ThrowIfCancellationRequested();
            return (MoveOwner.Unknown, e.Message);
        }
    }

    /// <summary>Asks the destination until it answers (or <paramref name="within"/> passes: unknown), waiting 1 s doubling to 10 s between tries.</summary>
    private async Task<MoveOwner> SettleWithAsync(IMoveDestination destination, string name, string project, string instanceId, TimeSpan? within)
    {
        var clock = Stopwatch.StartNew();
        var pause = TimeSpan.FromSeconds(1);
        for (var attempt = 1; ; attempt++)
        {
            var (owner, why) = await AskDestinationAsync(destination, name, instanceId).ConfigureAwait(false);
            if (owner != MoveOwner.Unknown)
            {
                LogMoveSettled(name, project, destination.Name, owner == MoveOwner.Target ? "the destination runs the guest" : "the guest stays here", why);
                return owner;
            }
            if (attempt == 1 || attempt % 10 == 0)
            {
                LogMoveUnsettled(name, project, destination.Name, why);
            }
            if (within is { } w && clock.Elapsed >= w)
            {
                return MoveOwner.Unknown;
            }
            await Task.Delay(pause, _time, _shutdown.Token).ConfigureAwait(false);
            pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
        }
    }

    /// <summary>
    /// At a daemon's start, for a running instance whose directory holds a <see cref="MoveOutMarker"/>: the previous
    /// daemon died during a live move of it. The driver's recovery already undid a move that had not switched over
    /// (the guest runs here); one that had switched over (the copy here stopped, <c>postmigrate</c>) is settled with
    /// the destination in the background: this copy is removed when the destination runs the guest, resumed when it
    /// holds none. Exactly one copy runs either way; the <c>moved</c> or <c>move-undone</c> event and EventIds 2070-2074 say which.
    /// </summary>
    private async Task SettleUnfinishedMoveOutAsync(Entry entry, IDriver driver, DriverHandle handle, CancellationToken cancellationToken)
    {
        var directory = InstanceDirectory(entry.Record.Id);
        if (MoveOutMarker.TryRead(directory) is not { } marker || driver is not ILiveMoveDriver mover)
        {
            return;
        }
        bool handedOver;
        try
        {
            handedOver = await mover.HandedOverAsync(handle, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is StrataException or IOException)
        {
            LogMoveCheckFailed(entry.Record.Name, entry.Record.Project, e.Message);
            return; // the marker stays: the next start asks again
        }
        if (!handedOver)
        {
            // The guest never left: the recovery undid the move. The destination's receiving side lost its stream and
            // removes itself; asking it to is only a courtesy.
            Track(DiscardAbandonedIncomingAsync(marker));
            MoveOutMarker.Delete(directory);
            LogMoveUndoneAtStart(entry.Record.Name, entry.Record.Project, marker.Address);
            return;
        }
        Track(SettleHandedOverAsync(entry, marker));
    }

    private async Task DiscardAbandonedIncomingAsync(MoveOutMarker marker)
    {
        if (_options.OpenMoveDestination is not { } open)
        {
            return;
        }
        var destination = open(marker.Destination, marker.Project);
        try
        {
            await destination.DiscardAsync(marker.Name, _shutdown.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is StrataException or OperationCanceledException or HttpRequestException or IOException)
        {
            // It removes a receiving side whose stream broke on its own.
        }
        finally
        {
            (destination as IDisposable)?.Dispose();
        }
    }

    /// <summary>
    /// The copy here handed its guest over and the destination's answer is not known: asked until it answers (for as
    /// long as this daemon runs; a stopped daemon's next start asks again), then this copy is removed or resumed.
    /// </summary>
    private async Task SettleHandedOverAsync(Entry entry, MoveOutMarker marker)
    {
        var name = entry.Record.Name;
        var project = entry.Record.Project;
        if (_options.OpenMoveDestination is not { } open)
        {
            LogMoveUnsettled(name, project, marker.Address, "this daemon cannot reach move destinations; remove this stopped copy once the destination runs the instance, or start it again if the destination holds none");
            return;
        }
        var destination = open(marker.Destination, marker.Project);
        try
        {
            MoveOwner owner;
            try
            {
                owner = await SettleWithAsync(destination, name, project, entry.Record.Id, within: null).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return; // the daemon stops; the marker stays for the next start
            }
            await entry.Lock.WaitAsync(_shutdown.Token).ConfigureAwait(false);
            try
            {
                if (!_entries.TryGetValue(entry.Record.Id, out var current) || !ReferenceEquals(current, entry) || entry.Record.Handle is not { } handle)
                {
                    return; // removed meanwhile
                }
                var directory = InstanceDirectory(entry.Record.Id);
                if (owner == MoveOwner.Target)
                {
                    _events.Publish("moved", View(entry.Record) with
                    {
                        Reason = $"moved to {destination.Name}: the move had switched over when this daemon lost track of it, and {destination.Name} runs the instance; the stopped copy here was removed",
                    });
                    await DeleteLockedAsync(entry).ConfigureAwait(false);
                    LogHandedOverRemoved(name, project, destination.Name);
                }
                else
                {
                    await ((ILiveMoveDriver)_drivers.Get(entry.Record.Tier)).ResumeHandedOverAsync(handle, CancellationToken.None).ConfigureAwait(false);
                    MoveOutMarker.Delete(directory);
                    _events.Publish("move-undone", View(entry.Record) with
                    {
                        Reason = $"the move to {destination.Name} had switched over, but {destination.Name} holds no copy of the instance (it removed its unconfirmed side); the guest resumed here",
                    });
                    LogHandedOverResumed(name, project, destination.Name);
                }
            }
            finally
            {
                entry.Lock.Release();
            }
        }
        catch (OperationCanceledException) when (_shutdown.IsCancellationRequested)
        {
        }
        catch (Exception e) when (e is StrataException or IOException)
        {
            LogBackgroundFailure(name, "settle a move that had switched over (the next daemon start asks again)", e);
        }
        finally
        {
            (destination as IDisposable)?.Dispose();
        }
    }

    [LoggerMessage(EventId = 2070, Level = LogLevel.Warning,
        Message = "instance {Name} of project {Project}: the move to {Destination} switched over and its outcome is not known yet ({Why}); the copy here stays stopped until {Destination} answers")]
    private partial void LogMoveUnsettled(string name, string project, string destination, string why);

    [LoggerMessage(EventId = 2071, Level = LogLevel.Information, Message = "instance {Name} of project {Project}: the move to {Destination} is settled: {Outcome} ({Why})")]
    private partial void LogMoveSettled(string name, string project, string destination, string outcome, string why);

    [LoggerMessage(EventId = 2072, Level = LogLevel.Warning,
        Message = "instance {Name} of project {Project}: a move to {Destination} had switched over when the previous daemon stopped; {Destination} runs it, so the stopped copy here (its QEMU, files and record) was removed")]
    private partial void LogHandedOverRemoved(string name, string project, string destination);

    [LoggerMessage(EventId = 2073, Level = LogLevel.Warning,
        Message = "instance {Name} of project {Project}: a move to {Destination} had switched over, but {Destination} holds no copy; the guest resumed here")]
    private partial void LogHandedOverResumed(string name, string project, string destination);

    [LoggerMessage(EventId = 2074, Level = LogLevel.Information,
        Message = "instance {Name} of project {Project}: a move to {Destination} that the previous daemon drove had not switched over; it was undone and the guest runs here")]
    private partial void LogMoveUndoneAtStart(string name, string project, string destination);

    [LoggerMessage(EventId = 2075, Level = LogLevel.Warning,
        Message = "instance {Name} of project {Project}: an unfinished move could not be checked ({Why}); the next daemon start checks again")]
    private partial void LogMoveCheckFailed(string name, string project, string why);
}
