using Microsoft.Extensions.Logging;
using Strata.Cluster.Etcd;
using Strata.Scheduler;
using V3Electionpb;

namespace Strata.Cluster;

/// <summary>
/// Every node campaigns; the one elected (etcd's election API, under a lease of its own, TTL as the node's)
/// places the admitted instances and runs the <see cref="FailureMonitor"/>. Its writes are fenced on the leader
/// key's create revision: a deposed leader's commit fails its compare, so two leaders never both place. The
/// campaign is a <see cref="SupervisedLoop"/>: a term that ends in any way, a fault included, is followed by
/// another campaign.
/// </summary>
public sealed partial class SchedulerLeader : IAsyncDisposable
{
    private readonly EtcdConnection _etcd;
    private readonly ClusterOptions _options;
    private readonly string _node;
    private readonly ILogger _log;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;
    private volatile bool _resign = true;

    public SchedulerLeader(EtcdConnection etcd, ClusterOptions options, string node, Scheduler.Scheduler scheduler, ILogger log, TimeProvider? time = null)
    {
        _etcd = etcd;
        _options = options;
        _node = node;
        _log = log;
        _time = time ?? TimeProvider.System;
        Placer = new PlacementCommitter(etcd, options, scheduler, log);
        Monitor = new FailureMonitor(etcd, options, Placer, log, _time);
    }

    /// <summary>True while this node holds the leader key.</summary>
    public bool IsLeader { get; private set; }

    /// <summary>Times this node became leader.</summary>
    public int Terms { get; private set; }

    public PlacementCommitter Placer { get; }

    public FailureMonitor Monitor { get; }

    /// <summary>Campaigns under supervision; a failed term is retried within one renewal interval, so a cluster whose
    /// etcd just regained quorum gets a leader again about as fast as one whose leader died.</summary>
    public void Start() => _loop = SupervisedLoop.Start("scheduler campaign", TermAsync, _log, _stop.Token,
        firstRetry: TimeSpan.FromMilliseconds(200), longestRetry: _options.KeepAliveInterval);

    /// <summary>
    /// One term: a fresh election lease, the campaign, and leading until the lease lapses or a fenced write finds
    /// another leader. However it ends (an unexpected fault included, which the supervisor logs), this node steps
    /// down, stops renewing, gives the lease back, and campaigns again.
    /// </summary>
    private async Task TermAsync(CancellationToken ct)
    {
        long lease = 0;
        using var term = CancellationTokenSource.CreateLinkedTokenSource(ct);
        Task? keepAlive = null;
        try
        {
            lease = await _etcd.GrantLeaseAsync(_options.LeaseTtl, ct).ConfigureAwait(false);
            keepAlive = Task.Run(() => KeepAliveAsync(lease, term), CancellationToken.None);
            var leader = await _etcd.CampaignAsync(ClusterKeys.Election, lease, _node, term.Token).ConfigureAwait(false);
            IsLeader = true;
            Terms++;
            LogElected(_log, _node, leader.Rev);
            await LeadAsync(leader, term.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested || term.IsCancellationRequested)
        {
        }
        catch (Exception e) when (e is EtcdUnavailableException or EtcdRequestException or NotLeaderException)
        {
            LogTermEnded(_log, e.Message);
        }
        finally
        {
            if (IsLeader)
            {
                LogStepDown(_log, _node);
            }
            IsLeader = false;
            await term.CancelAsync().ConfigureAwait(false);
            if (keepAlive is not null)
            {
                await keepAlive.ConfigureAwait(false);
            }
            if (lease != 0 && _resign)
            {
                try
                {
                    await _etcd.RevokeLeaseAsync(lease, CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception e) when (e is EtcdUnavailableException or EtcdRequestException)
                {
                    // it lapses on its own
                }
            }
        }
        await Task.Delay(TimeSpan.FromMilliseconds(200), ct).ConfigureAwait(false);
    }

    /// <summary>Renews the election lease every TTL/3; when it lapses the term ends (another node may already lead).</summary>
    private async Task KeepAliveAsync(long lease, CancellationTokenSource term)
    {
        var lastRenewed = _time.GetTimestamp();
        while (!term.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(_options.KeepAliveInterval, term.Token).ConfigureAwait(false);
                var ttl = await _etcd.KeepAliveOnceAsync(lease, term.Token).ConfigureAwait(false);
                if (ttl <= 0)
                {
                    await term.CancelAsync().ConfigureAwait(false);
                    return;
                }
                lastRenewed = _time.GetTimestamp();
            }
            catch (OperationCanceledException) when (term.IsCancellationRequested)
            {
                return;
            }
            catch (EtcdUnavailableException)
            {
                if (_time.GetElapsedTime(lastRenewed) >= _options.LeaseTtl)
                {
                    // Cannot have renewed in time: the lease may be gone and another node leading.
                    await term.CancelAsync().ConfigureAwait(false);
                    return;
                }
            }
            catch (Exception e)
            {
                // Anything else: this node cannot vouch for its lease, so it stops leading rather than lead blind.
                LogTermEnded(_log, "renewing the election lease failed: " + e.Message);
                await term.CancelAsync().ConfigureAwait(false);
                return;
            }
        }
    }

    private async Task LeadAsync(LeaderKey leader, CancellationToken ct)
    {
        var signal = new SemaphoreSlim(0);
        var start = await _etcd.GetPrefixAsync(ClusterKeys.Pending, limit: 1, keysOnly: true, ct: ct).ConfigureAwait(false);
        // The watch ends with this method, however it ends: awaited below, a watch still running would hold the term
        // (and its renewed lease, so no other node could lead) forever after a failed placement.
        using var watching = CancellationTokenSource.CreateLinkedTokenSource(ct);
        // Wakes the loop below when an instance is admitted; without it (it ended) the loop still polls every second.
        var watch = Task.Run(async () =>
        {
            await foreach (var _ in _etcd.WatchPrefixAsync(ClusterKeys.Pending, start.Header.Revision, watching.Token).ConfigureAwait(false))
            {
                if (signal.CurrentCount == 0)
                {
                    signal.Release();
                }
            }
        }, CancellationToken.None);
        var monitorDue = _time.GetTimestamp();
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var placed = await Placer.PlacePendingAsync(leader, ct).ConfigureAwait(false);
                if (_time.GetElapsedTime(monitorDue) >= TimeSpan.Zero)
                {
                    await Monitor.TickAsync(leader, ct).ConfigureAwait(false);
                    monitorDue = _time.GetTimestamp() + (long)(TimeSpan.FromSeconds(1).TotalSeconds * _time.TimestampFrequency);
                }
                if (placed == 0)
                {
                    await signal.WaitAsync(TimeSpan.FromSeconds(1), ct).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            await watching.CancelAsync().ConfigureAwait(false);
            try
            {
                await watch.ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogTermEnded(_log, "the watch of admitted instances failed: " + e.Message);
            }
            catch (OperationCanceledException)
            {
            }
            signal.Dispose();
        }
    }

    /// <summary>
    /// Stops campaigning and leading. With <paramref name="resign"/> the election lease is revoked, so another node
    /// leads at once; without, it lapses a TTL later, as when the process dies or loses etcd.
    /// </summary>
    public async Task StopAsync(bool resign = true)
    {
        _resign = resign;
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }
        _stop.Dispose();
    }

    [LoggerMessage(EventId = 1910, Level = LogLevel.Information, Message = "Cluster: {Node} leads the scheduler (leader key revision {Revision})")]
    private static partial void LogElected(ILogger log, string node, long revision);

    [LoggerMessage(EventId = 1911, Level = LogLevel.Warning, Message = "Cluster: {Node} no longer leads the scheduler")]
    private static partial void LogStepDown(ILogger log, string node);

    [LoggerMessage(EventId = 1912, Level = LogLevel.Warning, Message = "Cluster: scheduler term ended: {Reason}")]
    private static partial void LogTermEnded(ILogger log, string reason);
}

/// <summary>This node's leader key is gone (its lease lapsed, another node leads): its writes stop.</summary>
public sealed class NotLeaderException(string message) : Exception(message);
