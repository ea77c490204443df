using System.Globalization;

namespace Strata.Scheduler.Rebalancing;

/// <summary>
/// Plans rebalancing on predicted load, one round at a time: pure (no clock, no I/O; the caller passes the time and
/// keeps the <see cref="RebalanceState"/>). When the most and least loaded available nodes differ by more than
/// <see cref="RebalanceOptions.Threshold"/> for <see cref="RebalanceOptions.Rounds"/> rounds in a row, it proposes the
/// one move that shrinks that spread most, if it shrinks it by <see cref="RebalanceOptions.MinImprovement"/> or more,
/// the instance's limits fit the target, the instance is out of its cooldown, and the forecast does not say the move
/// would reverse itself (the target, at its forecast peak, ending up the most loaded by more than the threshold).
/// </summary>
public sealed class Rebalancer
{
    private const int MaxRejected = 10;

    public Rebalancer(RebalanceOptions? options = null)
    {
        Options = options ?? new RebalanceOptions();
        Options.Validate();
    }

    public RebalanceOptions Options { get; }

    public RebalanceDecision Evaluate(IReadOnlyList<RebalanceNode> nodes, RebalanceState state, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        ArgumentNullException.ThrowIfNull(state);
        var loads = nodes.Select(n => Load(n, forecast: false)).ToList();
        var available = nodes.Where(n => n.Available).ToList();
        if (available.Count < 2)
        {
            var only = loads.Where(l => l.Available).Select(l => Inv($"{l.Node} at {Pct(l.Load)}")).FirstOrDefault() ?? "no node";
            return new RebalanceDecision
            {
                Reason = RebalanceReason.SingleNode,
                Summary = $"nothing to rebalance: {(available.Count == 0 ? "no node takes instances" : $"one node takes instances ({only} predicted)")}; a rebalance moves instances between two or more nodes",
                Loads = loads,
                State = state with { RoundsAbove = 0 },
            };
        }
        var spread = Spread(available, null);
        var most = loads.Where(l => l.Available).MaxBy(l => l.Load)!;
        var least = loads.Where(l => l.Available).MinBy(l => l.Load)!;
        if (spread <= Options.Threshold)
        {
            return new RebalanceDecision
            {
                Reason = RebalanceReason.Balanced,
                Summary = Inv($"balanced: predicted loads differ by {Pct(spread)} ({most.Node} {Pct(most.Load)}, {least.Node} {Pct(least.Load)}), within the {Pct(Options.Threshold)} threshold"),
                Loads = loads,
                Spread = spread,
                State = state with { RoundsAbove = 0 },
            };
        }
        var rounds = state.RoundsAbove + 1;
        if (rounds < Options.Rounds)
        {
            return new RebalanceDecision
            {
                Reason = RebalanceReason.Waiting,
                Summary = Inv($"imbalanced for {rounds} of {Options.Rounds} rounds: {most.Node} {Pct(most.Load)} against {least.Node} {Pct(least.Load)} ({Pct(spread)} apart, threshold {Pct(Options.Threshold)}); waiting, so a passing peak moves nothing"),
                Loads = loads,
                Spread = spread,
                State = state with { RoundsAbove = rounds },
            };
        }

        var source = available.Single(n => n.Name == most.Node);
        var rejected = new List<string>();
        (RebalanceMove Move, double After)? best = null;
        foreach (var instance in source.Instances.OrderBy(i => i.Key, StringComparer.Ordinal))
        {
            if (instance.Hidden)
            {
                continue; // another project's: counted in the load, never named or moved for this caller
            }
            if (!instance.Movable)
            {
                Reject(rejected, $"{instance.Name}: {instance.NotMovable ?? "cannot be moved"}");
                continue;
            }
            if (state.LastMoved.TryGetValue(instance.Key, out var moved) && now - moved < Options.Cooldown)
            {
                Reject(rejected, Inv($"{instance.Name}: moved {Minutes(now - moved)} ago, cooldown {Minutes(Options.Cooldown)}"));
                continue;
            }
            foreach (var target in available.Where(n => n.Name != source.Name).OrderBy(n => Load(n, false).Load).ThenBy(n => n.Name, StringComparer.Ordinal))
            {
                if (instance.Tier is { } tier && target.Tiers is { } tiers && !tiers.Contains(tier))
                {
                    Reject(rejected, $"{instance.Name} → {target.Name}: {target.Name} does not run the {tier} tier");
                    continue;
                }
                var reserved = target.Instances.Aggregate(default(Resources), (sum, i) => sum + i.Requested);
                var freeByLimits = target.Capacity - reserved;
                if (instance.Requested.CpuMillis > freeByLimits.CpuMillis || instance.Requested.MemoryBytes > freeByLimits.MemoryBytes)
                {
                    Reject(rejected, $"{instance.Name} → {target.Name}: its limits ({Resources.Cpu(instance.Requested.CpuMillis)}, {Resources.Bytes(instance.Requested.MemoryBytes)}) do not fit what {target.Name}'s limits leave ({Resources.Cpu(freeByLimits.CpuMillis)}, {Resources.Bytes(freeByLimits.MemoryBytes)})");
                    continue;
                }
                var after = Spread(available, (instance, source.Name, target.Name));
                var improvement = spread - after;
                if (improvement < Options.MinImprovement)
                {
                    Reject(rejected, Inv($"{instance.Name} → {target.Name}: the spread would go from {Pct(spread)} to {Pct(after)}, less than the {Pct(Options.MinImprovement)} minimum improvement"));
                    continue;
                }
                if (Reverses(instance, source, target) is { } reversal)
                {
                    Reject(rejected, $"{instance.Name} → {target.Name}: {reversal}");
                    continue;
                }
                if (best is null || after < best.Value.After - 1e-12)
                {
                    var why = Inv($"{source.Name} is predicted at {Pct(most.Load)} and {least.Node} at {Pct(least.Load)}: {Pct(spread)} apart for {rounds} rounds (threshold {Pct(Options.Threshold)}); moving {instance.Name} (predicted {Resources.Cpu(instance.Predicted.CpuMillis)}, {Resources.Bytes(instance.Predicted.MemoryBytes)}) to {target.Name} brings the spread to {Pct(after)}");
                    best = (new RebalanceMove(instance.Name, instance.Project, source.Name, target.Name, spread, after, why), after);
                }
            }
        }
        if (best is { } chosen)
        {
            var last = new Dictionary<string, DateTimeOffset>(state.LastMoved, StringComparer.Ordinal) { [chosen.Move.Project + "/" + chosen.Move.Instance] = now };
            return new RebalanceDecision
            {
                Reason = RebalanceReason.Move,
                Summary = $"move {chosen.Move.Instance} from {chosen.Move.From} to {chosen.Move.To}: {chosen.Move.Why}",
                Move = chosen.Move,
                Loads = loads,
                Spread = spread,
                Rejected = rejected,
                State = new RebalanceState { RoundsAbove = 0, LastMoved = last },
            };
        }
        return new RebalanceDecision
        {
            Reason = RebalanceReason.NoQualifyingMove,
            Summary = Inv($"{most.Node} {Pct(most.Load)} against {least.Node} {Pct(least.Load)} for {rounds} rounds, but no move qualifies{(source.Instances.All(i => i.Hidden) ? $" ({source.Name} runs nothing movable)" : "")}"),
            Loads = loads,
            Spread = spread,
            Rejected = rejected,
            State = state with { RoundsAbove = rounds },
        };
    }

    /// <summary>
    /// Null when the move holds; otherwise why it would reverse itself: with every instance at its forecast peak (its
    /// prediction where it has no forecast), the target would end up loaded more than the threshold above the source,
    /// so a later round would move something back. This also refuses a move that merely flips the imbalance.
    /// </summary>
    private string? Reverses(RebalanceInstance moving, RebalanceNode source, RebalanceNode target)
    {
        var what = source.Instances.Any(i => i.Forecast is not null) || target.Instances.Any(i => i.Forecast is not null) ? "the forecast" : "the predicted use";
        var sourceAfter = LoadOf(source.Capacity, source.Instances.Where(i => i != moving), forecast: true);
        var targetAfter = LoadOf(target.Capacity, target.Instances.Append(moving), forecast: true);
        return targetAfter.Load - sourceAfter.Load > Options.Threshold
            ? Inv($"{what} puts {target.Name} at {Pct(targetAfter.Load)} and {source.Name} at {Pct(sourceAfter.Load)} after it, {Pct(targetAfter.Load - sourceAfter.Load)} the other way: the move would reverse itself")
            : null;
    }

    private static double Spread(IReadOnlyList<RebalanceNode> nodes, (RebalanceInstance Instance, string From, string To)? move)
    {
        double max = double.MinValue, min = double.MaxValue;
        foreach (var n in nodes)
        {
            var instances = move is { } m && n.Name == m.From ? n.Instances.Where(i => i != m.Instance)
                : move is { } m2 && n.Name == m2.To ? n.Instances.Append(m2.Instance)
                : n.Instances;
            var load = LoadOf(n.Capacity, instances, forecast: false).Load;
            max = Math.Max(max, load);
            min = Math.Min(min, load);
        }
        return max - min;
    }

    private static NodeLoad Load(RebalanceNode node, bool forecast)
    {
        var (load, cpu, memory) = LoadOf(node.Capacity, node.Instances, forecast);
        var visible = node.Instances.Where(i => !i.Hidden).ToList();
        return new NodeLoad(node.Name, Math.Round(load, 4), Math.Round(cpu, 4), Math.Round(memory, 4), visible.Count, node.Available)
        {
            WithHistory = visible.Count(i => i.History),
        };
    }

    private static (double Load, double Cpu, double Memory) LoadOf(Resources capacity, IEnumerable<RebalanceInstance> instances, bool forecast)
    {
        var used = instances.Aggregate(default(Resources), (sum, i) => sum + (forecast ? i.Forecast ?? i.Predicted : i.Predicted));
        var cpu = capacity.CpuMillis <= 0 ? 0 : (double)used.CpuMillis / capacity.CpuMillis;
        var memory = capacity.MemoryBytes <= 0 ? 0 : (double)used.MemoryBytes / capacity.MemoryBytes;
        return (Math.Max(cpu, memory), cpu, memory);
    }

    private static void Reject(List<string> rejected, string why)
    {
        if (rejected.Count < MaxRejected)
        {
            rejected.Add(why);
        }
    }

    private static string Pct(double fraction) => Inv($"{fraction * 100:0.#} %");

    private static string Minutes(TimeSpan t) => t.TotalMinutes >= 120 ? Inv($"{t.TotalHours:0.#} h") : Inv($"{t.TotalMinutes:0} min");

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
