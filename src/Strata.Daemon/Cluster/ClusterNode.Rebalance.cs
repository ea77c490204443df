using Strata.Cluster;
using Strata.Cluster.Rebalancing;
using Strata.Contracts;
using Strata.Control.Usage;
using Strata.Scheduler.Rebalancing;

namespace Strata.Daemon.Cluster;

/// <summary>
/// The node's part in rebalancing (docs/scheduler.md#rebalancing): it publishes its instances' predicted use
/// (<see cref="NodeLoadPublisher"/>), carries out rebalance moves (<see cref="Mover"/>), and, with
/// <c>--rebalance dry-run|auto</c>, runs the periodic rebalancer while it leads the scheduler.
/// </summary>
public sealed partial class ClusterNode
{
    private readonly RebalanceLoop? _rebalancer;
    private readonly CancellationTokenSource _rebalanceStop = new();
    private TimeSpan _rebalanceInterval;
    private Task? _rebalanceLoop;
    private ILogger? _rebalanceLog;

    /// <summary>Moves a rebalance decides on, by node name (as <c>strata move --node</c>).</summary>
    public IInstanceMover Mover => field ??= new ClusterInstanceMover(this);

    /// <summary>The rebalancer's rounds and cooldowns, shared by every node through etcd.</summary>
    public IRebalanceJournal RebalanceJournal => field ??= new EtcdRebalanceJournal(Etcd, new RebalanceOptions().Cooldown);

    /// <summary>What the periodic rebalancer does; off unless <c>--rebalance</c> says otherwise.</summary>
    public RebalanceMode RebalanceMode => _rebalancer?.Mode ?? RebalanceMode.Off;

    /// <summary>The instances of this node with a usage history, each at its recommendation (its targets; the forecast's memory peak).</summary>
    private static IReadOnlyList<PredictedUse> Predictions(UsageSampler usage)
    {
        var list = new List<PredictedUse>();
        foreach (var r in usage.Recommend(null))
        {
            if (r.State != "running" || r.Samples == 0)
            {
                continue;
            }
            var predicted = new ResourceAmounts((long)Math.Round(r.Cpu.Target * 1000), (long)Math.Ceiling(r.Memory.Target));
            list.Add(new PredictedUse(r.Project, r.Name, new ResourceAmounts(0, 0), predicted,
                r.ForecastMemoryPeak > predicted.MemoryBytes ? predicted with { MemoryBytes = (long)Math.Ceiling(r.ForecastMemoryPeak) } : null));
        }
        return list;
    }

    private RebalanceLoop? CreateRebalancer(ClusterDaemonOptions options, ILoggerFactory logs)
    {
        if (options.Rebalance == RebalanceMode.Off)
        {
            return null;
        }
        _rebalanceInterval = options.RebalanceInterval;
        _rebalanceLog = logs.CreateLogger<RebalanceLoop>();
        return new RebalanceLoop(new Rebalancer(new RebalanceOptions { Threshold = options.RebalanceThreshold }), options.Rebalance,
            ct => ClusterRebalance.ObserveAsync(Etcd, project: null, ct: ct), options.Rebalance == RebalanceMode.Auto ? Mover : null,
            RebalanceJournal, _rebalanceLog);
    }

    /// <summary>A round every interval, on the leader only; supervised like the other cluster loops.</summary>
    private void StartRebalancer()
    {
        if (_rebalancer is { } loop)
        {
            _rebalanceLoop = SupervisedLoop.Start("rebalancer", async ct =>
            {
                await Task.Delay(_rebalanceInterval, ct).ConfigureAwait(false);
                if (Leader.IsLeader)
                {
                    await loop.RoundAsync(ct).ConfigureAwait(false);
                }
            }, _rebalanceLog!, _rebalanceStop.Token);
        }
    }

    private async Task StopRebalancerAsync()
    {
        await _rebalanceStop.CancelAsync().ConfigureAwait(false);
        if (_rebalanceLoop is not null)
        {
            await _rebalanceLoop.ConfigureAwait(false);
        }
        _rebalanceStop.Dispose();
    }
}
