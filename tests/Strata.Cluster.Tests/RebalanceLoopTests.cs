using Microsoft.Extensions.Logging.Abstractions;
using Strata.Cluster.Rebalancing;
using Strata.Scheduler;
using Strata.Scheduler.Rebalancing;

namespace Strata.Cluster.Tests;

/// <summary>
/// The periodic rebalancer's rounds against a fake cluster held in memory (a fake mover moves instances between its
/// nodes): rounds before a move, one move per round until balanced, the cooldown, no move the forecast reverses,
/// dry-run moving nothing, a failed and a cancelled move, each decision an event.
/// </summary>
public sealed class RebalanceLoopTests
{
    private static readonly Resources Node8 = new(8000, 16L << 30);

    private sealed class ManualTime(DateTimeOffset start) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = start;

        public override DateTimeOffset GetUtcNow() => Now;
    }

    /// <summary>Nodes and their instances in memory; the mover moves one between them (or fails, or waits to be cancelled).</summary>
    private sealed class FakeCluster : IInstanceMover, IRebalanceJournal
    {
        public Dictionary<string, List<RebalanceInstance>> Nodes { get; } = new(StringComparer.Ordinal);
        public List<RebalanceMove> Moves { get; } = [];
        public List<(string Kind, string Message)> Events { get; } = [];
        public RebalanceState State { get; set; } = new();
        public string? FailWith { get; set; }
        public bool Hang { get; set; }

        public Task<IReadOnlyList<RebalanceNode>> ObserveAsync(CancellationToken ct) =>
            Task.FromResult<IReadOnlyList<RebalanceNode>>([.. Nodes.Select(n => new RebalanceNode(n.Key, Node8, [.. n.Value]))]);

        public async Task<string> MoveAsync(RebalanceMove move, Action<string>? progress, CancellationToken ct)
        {
            progress?.Invoke("copying");
            if (Hang)
            {
                await Task.Delay(Timeout.Infinite, ct);
            }
            if (FailWith is { } why)
            {
                throw new InvalidOperationException(why);
            }
            var instance = Nodes[move.From].Single(i => i.Name == move.Instance);
            Nodes[move.From].Remove(instance);
            Nodes[move.To].Add(instance);
            Moves.Add(move);
            return $"moved {move.Instance}";
        }

        public Task<RebalanceState> LoadAsync(CancellationToken ct) => Task.FromResult(State);

        public Task SaveAsync(RebalanceState state, CancellationToken ct)
        {
            State = state;
            return Task.CompletedTask;
        }

        public Task EventAsync(string kind, string message, CancellationToken ct)
        {
            Events.Add((kind, message));
            return Task.CompletedTask;
        }
    }

    private static RebalanceInstance I(string name, double cores, double? forecastCores = null) =>
        new(name, "default", new Resources((long)(cores * 1000), 1L << 30), new Resources((long)(cores * 1000), 1L << 30),
            forecastCores is { } f ? new Resources((long)(f * 1000), 1L << 30) : null);

    private static (FakeCluster Cluster, RebalanceLoop Loop, ManualTime Time) Create(RebalanceMode mode, RebalanceOptions? options = null)
    {
        var cluster = new FakeCluster();
        var time = new ManualTime(new DateTimeOffset(2026, 12, 5, 8, 0, 0, TimeSpan.Zero));
        var loop = new RebalanceLoop(new Rebalancer(options ?? new RebalanceOptions { Rounds = 2 }), mode, cluster.ObserveAsync,
            mode == RebalanceMode.Auto ? cluster : null, cluster, NullLogger.Instance, time);
        return (cluster, loop, time);
    }

    [Fact]
    public async Task Auto_WaitsForTheRounds_MovesOnePerRound_UntilBalanced_AndEachDecisionIsAnEvent()
    {
        var (cluster, loop, time) = Create(RebalanceMode.Auto);
        cluster.Nodes["hot"] = [I("a", 1), I("b", 1), I("c", 1), I("d", 1)]; // 50 %
        cluster.Nodes["cold"] = []; // 0 %
        var results = new List<string>();
        for (var round = 0; round < 6; round++)
        {
            results.Add((await loop.RoundAsync(CancellationToken.None)).Result);
            time.Now += TimeSpan.FromMinutes(1);
        }

        // Waiting, a (hot 37.5 %, cold 12.5 %: still 25 % apart), waiting again, b (25 % each), then balanced.
        Assert.Equal(["none", "moved", "none", "moved", "none", "none"], results);
        Assert.Equal(["a", "b"], cluster.Moves.Select(m => m.Instance));
        Assert.All(cluster.Moves, m => Assert.Equal(("hot", "cold"), (m.From, m.To)));
        Assert.Equal(2, cluster.Nodes["cold"].Count);
        Assert.Equal(["rebalance-waiting", "rebalance-moved", "rebalance-waiting", "rebalance-moved", "rebalance-balanced"], cluster.Events.Select(e => e.Kind));
        Assert.Contains("moved default/a from hot to cold: hot is predicted at 50 % and cold at 0 %", cluster.Events[1].Message, StringComparison.Ordinal);
        Assert.Equal(["default/a", "default/b"], cluster.State.LastMoved.Keys.Order());
    }

    [Fact]
    public async Task AMovedInstance_StaysInItsCooldown_ThenMayMoveAgain()
    {
        var (cluster, loop, time) = Create(RebalanceMode.Auto, new RebalanceOptions { Rounds = 1, Cooldown = TimeSpan.FromHours(1) });
        cluster.Nodes["n1"] = [I("a", 2), I("b", 2), I("c", 2)];
        cluster.Nodes["n2"] = [];
        Assert.Equal("moved", (await loop.RoundAsync(CancellationToken.None)).Result); // a: n1 → n2 (50 % and 25 %)
        // Then n2 fills up around it (87.5 %): a is the one candidate to go back, but it moved ten minutes ago.
        cluster.Nodes["n2"].Add(I("x", 5) with { Movable = false, NotMovable = "it is pinned to node n2" });
        time.Now += TimeSpan.FromMinutes(10);

        var cooling = await loop.RoundAsync(CancellationToken.None);

        Assert.Equal("none", cooling.Result);
        Assert.Equal(RebalanceReason.NoQualifyingMove, cooling.Decision.Reason);
        Assert.Contains("a: moved 10 min ago, cooldown 60 min", cooling.Decision.Rejected);
        Assert.Contains("x: it is pinned to node n2", cooling.Decision.Rejected);
        Assert.Contains(cluster.Events, e => e.Kind == "rebalance-no-move" && e.Message.Contains("cooldown 60 min", StringComparison.Ordinal));

        time.Now += TimeSpan.FromHours(1);
        var after = await loop.RoundAsync(CancellationToken.None);
        Assert.Equal("moved", after.Result);
        Assert.Equal(("a", "n2", "n1"), (after.Decision.Move!.Instance, after.Decision.Move.From, after.Decision.Move.To));
    }

    [Fact]
    public async Task AMoveTheForecastSaysWouldReverse_IsNeverMade()
    {
        var (cluster, loop, _) = Create(RebalanceMode.Auto, new RebalanceOptions { Rounds = 1 });
        // a uses 2 cores now but its forecast peaks at 7: on the empty node it would soon outweigh what is left here.
        cluster.Nodes["hot"] = [I("a", 2, forecastCores: 7), I("b", 2)];
        cluster.Nodes["cold"] = [];

        var outcome = await loop.RoundAsync(CancellationToken.None);

        Assert.Equal("moved", outcome.Result);
        Assert.Equal("b", outcome.Decision.Move!.Instance);
        Assert.Contains(outcome.Decision.Rejected, r => r.StartsWith("a → cold: the forecast puts cold at 87.5 %", StringComparison.Ordinal) && r.EndsWith("the move would reverse itself", StringComparison.Ordinal));
        Assert.Equal(["b"], cluster.Moves.Select(m => m.Instance));
    }

    [Fact]
    public async Task DryRun_ProposesAsAnEvent_MovesNothing_AndRecordsNoCooldown()
    {
        var (cluster, loop, time) = Create(RebalanceMode.DryRun);
        cluster.Nodes["hot"] = [I("a", 2), I("b", 2)];
        cluster.Nodes["cold"] = [];
        var results = new List<string>();
        for (var round = 0; round < 4; round++)
        {
            results.Add((await loop.RoundAsync(CancellationToken.None)).Result);
            time.Now += TimeSpan.FromMinutes(1);
        }

        Assert.Equal(["none", "dry-run", "none", "dry-run"], results); // proposed each time the rounds held again
        Assert.Empty(cluster.Moves);
        Assert.Equal(2, cluster.Nodes["hot"].Count);
        Assert.Empty(cluster.State.LastMoved);
        Assert.Contains(cluster.Events, e => e.Kind == "rebalance-proposed" && e.Message.StartsWith("would move default/a from hot to cold (dry-run)", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AFailedMove_IsAnEvent_AndPutsTheInstanceInItsCooldown_ACancelledOneRecordsNothing()
    {
        var (cluster, loop, time) = Create(RebalanceMode.Auto, new RebalanceOptions { Rounds = 1 });
        cluster.Nodes["hot"] = [I("a", 2), I("b", 2)];
        cluster.Nodes["cold"] = [];
        cluster.FailWith = "node cold refused it: no such network";

        var failed = await loop.RoundAsync(CancellationToken.None);

        Assert.Equal("failed", failed.Result);
        Assert.Equal("node cold refused it: no such network", failed.Detail);
        Assert.Contains(cluster.Events, e => e.Kind == "rebalance-failed" && e.Message.Contains("stays on hot", StringComparison.Ordinal));
        time.Now += TimeSpan.FromMinutes(1);
        cluster.FailWith = null;
        Assert.Contains("a: moved 1 min ago, cooldown 60 min", (await loop.RoundAsync(CancellationToken.None)).Decision.Rejected);

        // A cancelled move (the mover undid it) is not a decision carried out: no cooldown, no event of a move.
        var (c2, l2, _) = Create(RebalanceMode.Auto, new RebalanceOptions { Rounds = 1 });
        c2.Nodes["hot"] = [I("a", 2), I("b", 2)];
        c2.Nodes["cold"] = [];
        c2.Hang = true;
        using var cts = new CancellationTokenSource();
        var progress = new List<string>();
        var round = l2.RoundAsync(cts.Token, progress.Add);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => round);
        Assert.Equal(["moving a from hot to cold", "copying"], progress);
        Assert.Empty(c2.State.LastMoved);
        Assert.DoesNotContain(c2.Events, e => e.Kind is "rebalance-moved" or "rebalance-failed");
    }
}
