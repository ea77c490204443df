using Microsoft.Extensions.Logging;
using Strata.Scheduler.Rebalancing;

namespace Strata.Cluster.Rebalancing;

/// <summary>What the periodic rebalancer does with a decision (<c>stratad --rebalance</c>).</summary>
public enum RebalanceMode
{
    /// <summary>No periodic rebalancer (the default); <c>strata rebalance</c> still plans and applies on request.</summary>
    Off = 0,
    /// <summary>Each round's decision is an event and a log line; nothing moves.</summary>
    DryRun = 1,
    /// <summary>A proposed move is carried out (one per round).</summary>
    Auto = 2,
}

/// <summary>Where a rebalancer keeps its state between rounds (across leaders) and says what it decided.</summary>
public interface IRebalanceJournal
{
    Task<RebalanceState> LoadAsync(CancellationToken ct);

    Task SaveAsync(RebalanceState state, CancellationToken ct);

    /// <summary>Records a decision as an event (<paramref name="kind"/>: rebalance-waiting, -proposed, -moved, -failed, …).</summary>
    Task EventAsync(string kind, string message, CancellationToken ct);
}

/// <summary>
/// One rebalancer round after another: observe the nodes, let the pure <see cref="Rebalancer"/> decide, and in
/// <see cref="RebalanceMode.Auto"/> carry out its one move through the <see cref="IInstanceMover"/>. The state
/// (rounds above the threshold, each instance's last move) lives in the journal, so a new leader keeps the
/// cooldowns. Dry-run records no cooldown (nothing moved) and starts counting rounds again after each proposal. A
/// failed move puts the instance in its cooldown too, so a move that cannot succeed is not tried every round. A
/// decision is an event when it differs from the last one, and always when something was proposed, moved or failed.
/// </summary>
public sealed partial class RebalanceLoop
{
    private readonly Func<CancellationToken, Task<IReadOnlyList<RebalanceNode>>> _observe;
    private readonly IInstanceMover? _mover;
    private readonly IRebalanceJournal _journal;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private string? _lastSummary;

    public RebalanceLoop(Rebalancer rebalancer, RebalanceMode mode, Func<CancellationToken, Task<IReadOnlyList<RebalanceNode>>> observe,
        IInstanceMover? mover, IRebalanceJournal journal, ILogger log, TimeProvider? time = null)
    {
        if (mode == RebalanceMode.Auto && mover is null)
        {
            throw new ArgumentException("an automatic rebalancer needs a mover", nameof(mover));
        }
        Rebalancer = rebalancer;
        Mode = mode;
        _observe = observe;
        _mover = mover;
        _journal = journal;
        _log = log;
        _time = time ?? TimeProvider.System;
    }

    public Rebalancer Rebalancer { get; }

    public RebalanceMode Mode { get; }

    /// <summary>
    /// One round. In <see cref="RebalanceMode.Auto"/> a cancelled move (<paramref name="ct"/>) throws
    /// <see cref="OperationCanceledException"/> and records nothing: the mover undid it.
    /// </summary>
    public async Task<RebalanceOutcome> RoundAsync(CancellationToken ct, Action<string>? progress = null)
    {
        var state = await _journal.LoadAsync(ct).ConfigureAwait(false);
        var nodes = await _observe(ct).ConfigureAwait(false);
        var now = _time.GetUtcNow();
        var decision = Rebalancer.Evaluate(nodes, state, now);
        if (decision.Move is not { } move)
        {
            await _journal.SaveAsync(decision.State, ct).ConfigureAwait(false);
            LogDecision(_log, decision.Reason.ToString(), decision.Summary);
            if (decision.Summary != _lastSummary)
            {
                await _journal.EventAsync(decision.Reason == RebalanceReason.NoQualifyingMove ? "rebalance-no-move" : "rebalance-" + Kind(decision.Reason), Explain(decision), ct).ConfigureAwait(false);
            }
            _lastSummary = decision.Summary;
            return new RebalanceOutcome { Decision = decision, Result = "none" };
        }
        _lastSummary = decision.Summary;
        if (Mode != RebalanceMode.Auto)
        {
            await _journal.SaveAsync(state with { RoundsAbove = 0 }, ct).ConfigureAwait(false);
            LogProposed(_log, move.Instance, move.Project, move.From, move.To, move.Why);
            await _journal.EventAsync("rebalance-proposed", $"would move {move.Project}/{move.Instance} from {move.From} to {move.To} (dry-run): {move.Why}", ct).ConfigureAwait(false);
            return new RebalanceOutcome { Decision = decision, Result = "dry-run" };
        }
        progress?.Invoke($"moving {move.Instance} from {move.From} to {move.To}");
        string done;
        try
        {
            done = await _mover!.MoveAsync(move, progress, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            LogCancelled(_log, move.Instance, move.Project, move.From, move.To);
            throw;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            await _journal.SaveAsync(decision.State, ct).ConfigureAwait(false); // the cooldown: not tried again every round
            LogFailed(_log, move.Instance, move.Project, move.From, move.To, e.Message);
            await _journal.EventAsync("rebalance-failed", $"moving {move.Project}/{move.Instance} from {move.From} to {move.To} failed: {e.Message}; it stays on {move.From} and is not tried again for {Rebalancer.Options.Cooldown}", ct).ConfigureAwait(false);
            return new RebalanceOutcome { Decision = decision, Result = "failed", Detail = e.Message };
        }
        await _journal.SaveAsync(decision.State, ct).ConfigureAwait(false);
        LogMoved(_log, move.Instance, move.Project, move.From, move.To, move.Why);
        await _journal.EventAsync("rebalance-moved", $"moved {move.Project}/{move.Instance} from {move.From} to {move.To}: {move.Why}", ct).ConfigureAwait(false);
        return new RebalanceOutcome { Decision = decision, Result = "moved", Detail = done };
    }

    private static string Kind(RebalanceReason reason) => reason switch
    {
        RebalanceReason.SingleNode => "single-node",
        RebalanceReason.Balanced => "balanced",
        RebalanceReason.Waiting => "waiting",
        _ => "no-move",
    };

    /// <summary>The summary, with each rejected candidate's reason (the event says why nothing moved).</summary>
    private static string Explain(RebalanceDecision d) =>
        d.Rejected.Count == 0 ? d.Summary : d.Summary + "; not moved: " + string.Join("; ", d.Rejected);
}
