using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Strata.Contracts;
using Strata.Contracts.Drivers;

namespace Strata.Control;

/// <summary>
/// <c>cold-move-out.json</c> in a source instance's directory while a cold move of it runs: written before the stop,
/// deleted when the move is undone, gone with the directory when the target owns the instance. A daemon that starts
/// and finds it settles the move with the destination it names (docs/move.md, "A daemon dies mid-move").
/// </summary>
internal sealed record ColdMoveOutMarker
{
    public const string FileName = "cold-move-out.json";
    public const int CurrentVersion = 1;

    public int Version { get; init; } = CurrentVersion;
    public required string Address { get; init; }
    public required string Token { get; init; }
    public required string Project { get; init; }
    public required string Name { get; init; }
    public required string InstanceId { get; init; }
    public string? CertificateSha256 { get; init; }
    /// <summary>The instance ran when the move began: an undone move starts it here again.</summary>
    public bool WasRunning { get; init; }
    /// <summary>When the move began: an instance of that name on the destination created before it is not the move's.</summary>
    public DateTimeOffset At { get; init; }

    public MoveDestinationRef Destination => new(Address, Token, CertificateSha256);

    public void Write(string directory) => MoveOutMarker.WriteOwnerOnly(Path.Combine(directory, FileName), this, MoveMarkerJsonContext.Default.ColdMoveOutMarker);

    public static ColdMoveOutMarker? TryRead(string directory) =>
        MoveOutMarker.ReadMarker(Path.Combine(directory, FileName), MoveMarkerJsonContext.Default.ColdMoveOutMarker) is { Version: CurrentVersion } marker ? marker : null;

    public static void Delete(string directory) => File.Delete(Path.Combine(directory, FileName));
}

public sealed partial class InstanceService
{
    /// <summary>How much older than the move an instance on the destination may be and still be the move's copy (the two hosts' clocks differ).</summary>
    private static readonly TimeSpan ColdMoveClockSlack = TimeSpan.FromMinutes(2);

    /// <summary>
    /// At a daemon's start, for an instance whose directory holds a <see cref="ColdMoveOutMarker"/>: the previous daemon
    /// died during a cold move of it. The copy here was never removed (that is the move's last step), so it is whole.
    /// Asked until it answers, the destination decides: a copy there that runs is the instance now (the switch started
    /// it), and the copy here goes; any other copy there (created, failed, stopped: the switch did not finish) is
    /// removed there, and the copy here starts again if it ran before the move. Exactly one copy is left either way.
    /// </summary>
    private void SettleUnfinishedColdMoveOut(Entry entry)
    {
        if (ColdMoveOutMarker.TryRead(InstanceDirectory(entry.Record.Id)) is { } marker)
        {
            Track(SettleColdMoveOutAsync(entry, marker));
        }
    }

    private async Task SettleColdMoveOutAsync(Entry entry, ColdMoveOutMarker marker)
    {
        var name = entry.Record.Name;
        var project = entry.Record.Project;
        if (_options.OpenMoveDestination?.Invoke(marker.Destination, marker.Project) is not IColdMoveDestination destination)
        {
            LogMoveUnsettled(name, project, marker.Address, "this daemon cannot reach move destinations; remove the copy there (strata rm --force) and start this one, or remove this one");
            return;
        }
        try
        {
            bool targetOwns;
            try
            {
                targetOwns = await AskColdDestinationAsync(destination, marker).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return; // the daemon stops; the marker stays for the next start
            }
            await entry.Lock.WaitAsync(_shutdown.Token).ConfigureAwait(false);
            try
            {
                if (!_entries.TryGetValue(entry.Record.Id, out var current) || !ReferenceEquals(current, entry))
                {
                    return; // removed meanwhile
                }
                var directory = InstanceDirectory(entry.Record.Id);
                if (targetOwns && !entry.Record.State.IsActive())
                {
                    _events.Publish("moved", View(entry.Record) with
                    {
                        Reason = $"moved cold to {destination.Name}: the previous daemon stopped during the move after {destination.Name} had started the instance; the copy here was removed",
                    });
                    await DeleteLockedAsync(entry).ConfigureAwait(false);
                    LogColdMoveSettled(name, project, destination.Name, "the destination runs it; the copy here was removed");
                    return;
                }
                if (targetOwns)
                {
                    // Started here again by hand meanwhile: two copies run; which one stays is the operator's call.
                    ColdMoveOutMarker.Delete(directory);
                    LogMoveUnsettled(name, project, destination.Name, "it runs there and was started here again meanwhile; remove one of the two copies");
                    return;
                }
                var restarted = false;
                if (marker.WasRunning && !entry.Record.State.IsActive() && entry.Record.Handle is not null)
                {
                    var work = Path.Combine(directory, "move-out");
                    var capture = _drivers.Get(entry.Record.Tier) is IColdMoveDriver mover
                        && mover.PlanColdMove(entry.Record.Handle, running: true).Capture == ColdMoveCapture.WhileRunning
                        && Directory.Exists(work) && Directory.EnumerateFileSystemEntries(work).Any() ? mover : null;
                    InstanceStateMachine.EnsureTransition(name, entry.Record.State, InstanceState.Running, "start");
                    await StartLockedAsync(entry, entry.Record.RestartCount, _shutdown.Token,
                        capture is null ? null : (_, h) => capture.StartMovedAsync(h, work, _shutdown.Token)).ConfigureAwait(false);
                    restarted = true;
                }
                TryDeleteDirectory(Path.Combine(directory, "move-out"));
                File.Delete(Path.Combine(directory, "move-out.tar"));
                ColdMoveOutMarker.Delete(directory);
                _events.Publish("move-undone", View(entry.Record) with
                {
                    Reason = $"the previous daemon stopped during a cold move to {destination.Name}, which had not started the instance; its copy there was removed and the instance {(restarted ? "started again here" : "stays here")}",
                });
                LogColdMoveSettled(name, project, destination.Name, restarted ? "the copy there was removed; started again here" : "the copy there was removed; it stays here");
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
            LogBackgroundFailure(name, "settle a cold move the previous daemon stopped in (the next daemon start asks again)", e);
        }
        finally
        {
            (destination as IDisposable)?.Dispose();
        }
    }

    /// <summary>
    /// Whether the destination runs the moved instance; otherwise its copy there, if any, is removed first. Asked until it
    /// answers (1 s doubling to 10 s between tries) or the daemon stops; a copy there still being created or stopped is
    /// asked about again.
    /// </summary>
    private async Task<bool> AskColdDestinationAsync(IColdMoveDestination destination, ColdMoveOutMarker marker)
    {
        var pause = TimeSpan.FromSeconds(1);
        var clock = Stopwatch.StartNew();
        for (var attempt = 1; ; attempt++)
        {
            string why;
            try
            {
                using var limit = CancellationTokenSource.CreateLinkedTokenSource(_shutdown.Token);
                limit.CancelAfter(TimeSpan.FromSeconds(60));
                var there = await destination.FindAsync(marker.Name, limit.Token).ConfigureAwait(false);
                if (there is null || there.CreatedAt < marker.At - ColdMoveClockSlack)
                {
                    return false; // nothing there, or an older instance of that name: not the move's
                }
                switch (there.State)
                {
                    case "running":
                        return true;
                    case "pending" or "creating" or "stopping":
                        why = $"its copy there is {there.State}";
                        break;
                    default:
                        await destination.RemoveAsync(marker.Name, limit.Token).ConfigureAwait(false);
                        return false;
                }
            }
            catch (Exception e) when (e is StrataException or HttpRequestException or IOException
                || (e is OperationCanceledException && !_shutdown.IsCancellationRequested))
            {
                why = e.Message;
            }
            if (attempt == 1 || attempt % 10 == 0)
            {
                LogMoveUnsettled(marker.Name, marker.Project, destination.Name, why + $" (asked for {clock.Elapsed.TotalSeconds:0} s)");
            }
            await Task.Delay(pause, _time, _shutdown.Token).ConfigureAwait(false);
            pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
        }
    }

    [LoggerMessage(EventId = 2076, Level = LogLevel.Warning,
        Message = "instance {Name} of project {Project}: a cold move to {Destination} that the previous daemon drove is settled: {Outcome}")]
    private partial void LogColdMoveSettled(string name, string project, string destination, string outcome);
}
