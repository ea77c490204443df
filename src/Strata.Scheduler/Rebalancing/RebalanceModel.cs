namespace Strata.Scheduler.Rebalancing;

/// <summary>
/// One instance as the rebalancer sees it: what its limits reserve, what its recommendation predicts it uses now, and
/// what the forecast says its use will peak at over the coming hours (null: no forecast, the prediction stands).
/// Without a usage history the prediction is the limits.
/// </summary>
public sealed record RebalanceInstance(string Name, string Project, Resources Requested, Resources Predicted, Resources? Forecast = null, bool Movable = true)
{
    public string Key => Project + "/" + Name;

    /// <summary>Its tier: a target must offer it (null: any node will do).</summary>
    public string? Tier { get; init; }

    /// <summary>Why it cannot be moved, when <see cref="Movable"/> is false (e.g. its tier does not move by node name).</summary>
    public string? NotMovable { get; init; }

    /// <summary>The prediction comes from a usage history (not from its limits).</summary>
    public bool History { get; init; }

    /// <summary>
    /// Another project's instance, for a caller who may not see it: counted in its node's load, never a candidate,
    /// never named, not counted in <see cref="NodeLoad.Instances"/>.
    /// </summary>
    public bool Hidden { get; init; }
}

/// <summary>A node: its capacity, whether it may take instances, and what runs on it.</summary>
public sealed record RebalanceNode(string Name, Resources Capacity, IReadOnlyList<RebalanceInstance> Instances, bool Available = true)
{
    /// <summary>The tiers it runs (null: any).</summary>
    public IReadOnlySet<string>? Tiers { get; init; }
}

/// <summary>The rebalancer's settings, validated in one place.</summary>
public sealed record RebalanceOptions
{
    /// <summary>Nodes' predicted loads (the larger of CPU and memory, as a fraction of capacity) may differ by this much.</summary>
    public double Threshold { get; init; } = 0.20;
    /// <summary>Consecutive rounds above the threshold before a move is proposed.</summary>
    public int Rounds { get; init; } = 3;
    /// <summary>An instance moved is not moved again for this long.</summary>
    public TimeSpan Cooldown { get; init; } = TimeSpan.FromHours(1);
    /// <summary>A move must shrink the spread between the most and least loaded node by at least this much.</summary>
    public double MinImprovement { get; init; } = 0.05;

    public void Validate()
    {
        if (Threshold is <= 0 or >= 1 || double.IsNaN(Threshold))
        {
            throw new ArgumentException($"rebalance threshold must be between 0 and 1 (a fraction of capacity, e.g. 0.2), got {Threshold}");
        }
        if (Rounds is < 1 or > 1000)
        {
            throw new ArgumentException($"rebalance rounds must be 1–1000, got {Rounds}");
        }
        if (Cooldown < TimeSpan.Zero)
        {
            throw new ArgumentException($"rebalance cooldown must be 0 or more, got {Cooldown}");
        }
        if (MinImprovement is < 0 or >= 1 || double.IsNaN(MinImprovement))
        {
            throw new ArgumentException($"rebalance minimum improvement must be 0 up to 1, got {MinImprovement}");
        }
    }
}

/// <summary>What the rebalancer remembers between rounds: how many rounds in a row were above the threshold, and when each instance last moved.</summary>
public sealed record RebalanceState
{
    public int RoundsAbove { get; init; }
    public IReadOnlyDictionary<string, DateTimeOffset> LastMoved { get; init; } = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
}

/// <summary>Why a round proposed what it did (stable, for the event log and tests).</summary>
public enum RebalanceReason
{
    /// <summary>Fewer than two nodes can take instances: there is nothing to balance between.</summary>
    SingleNode = 0,
    /// <summary>The spread is within the threshold.</summary>
    Balanced = 1,
    /// <summary>Above the threshold, but not yet for enough consecutive rounds.</summary>
    Waiting = 2,
    /// <summary>A move is proposed.</summary>
    Move = 3,
    /// <summary>Above the threshold long enough, but no move qualifies (each candidate's reason is listed).</summary>
    NoQualifyingMove = 4,
}

/// <summary>One proposed move, with the loads before and after and the sentence that explains it.</summary>
public sealed record RebalanceMove(string Instance, string Project, string From, string To, double SpreadBefore, double SpreadAfter, string Why);

/// <summary>A node's predicted load (0–1+): the larger of its CPU and memory fractions, and each.</summary>
public sealed record NodeLoad(string Node, double Load, double Cpu, double Memory, int Instances, bool Available)
{
    /// <summary>How many of <see cref="Instances"/> are predicted from a usage history (the rest at their limits).</summary>
    public int WithHistory { get; init; }
}

/// <summary>The outcome of one round: what to do, why, and the state to keep for the next round.</summary>
public sealed record RebalanceDecision
{
    public required RebalanceReason Reason { get; init; }
    public required string Summary { get; init; }
    public RebalanceMove? Move { get; init; }
    public required IReadOnlyList<NodeLoad> Loads { get; init; }
    public double Spread { get; init; }
    /// <summary>Candidates considered and why each was not taken (bounded: at most 10).</summary>
    public IReadOnlyList<string> Rejected { get; init; } = [];
    public required RebalanceState State { get; init; }
}

/// <summary>
/// Carries out a proposed move (the cluster's <c>strata move --node</c>). The rebalancer only plans; whoever runs
/// <c>strata rebalance --apply</c> supplies a mover, and without one <c>--apply</c> is refused.
/// </summary>
public interface IInstanceMover
{
    /// <summary>
    /// Moves the instance to the node; returns a line saying what was done, throws when it could not (an
    /// <see cref="OperationCanceledException"/> when <paramref name="ct"/> cancelled it and the move was undone).
    /// <paramref name="progress"/> gets each step as a sentence.
    /// </summary>
    Task<string> MoveAsync(RebalanceMove move, Action<string>? progress, CancellationToken ct);
}

/// <summary>What one rebalance round did: the decision, and the move's outcome when one was carried out.</summary>
public sealed record RebalanceOutcome
{
    public required RebalanceDecision Decision { get; init; }
    /// <summary>dry-run (nothing carried out), moved, failed, or none (no move proposed).</summary>
    public required string Result { get; init; }
    /// <summary>What the mover said it did, or why it failed.</summary>
    public string? Detail { get; init; }
}
