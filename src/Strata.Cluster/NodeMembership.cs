using Microsoft.Extensions.Logging;
using Strata.Cluster.Etcd;

namespace Strata.Cluster;

/// <summary>
/// Keeps this node in the cluster: its record under a lease (TTL 10 s by default), renewed every TTL/3. When the
/// lease lapses anyway (etcd unreachable too long, the process stopped), the record is gone and the node is
/// offline; the next renewal that reaches etcd registers it again with a new lease, its free resources counted
/// again from what is assigned to it. Each registration is a <see cref="LeaseTerm"/>: its token is cancelled the
/// moment a new registration replaces it, so the node agent compares its copies again after every lapse.
/// </summary>
public sealed partial class NodeMembership : IAsyncDisposable
{
    private readonly EtcdConnection _etcd;
    private readonly ClusterOptions _options;
    private readonly ILogger _log;
    private readonly Func<NodeRecord> _describe;
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;
    private LeaseTerm _term = new(0, new CancellationToken(canceled: false));
    private CancellationTokenSource? _termEnd;

    /// <param name="describe">The node as it is now (capacity, tiers, address); <c>Free</c> is recomputed.</param>
    public NodeMembership(EtcdConnection etcd, ClusterOptions options, Func<NodeRecord> describe, ILogger log)
    {
        _etcd = etcd;
        _options = options;
        _describe = describe;
        _log = log;
    }

    public long Lease => _term.Lease;

    /// <summary>The current registration: its lease, and a token cancelled when a new registration replaces it.</summary>
    public LeaseTerm Term => Volatile.Read(ref _term);

    /// <summary>Registers the node (waits until etcd takes it) and starts renewing its lease.</summary>
    public async Task StartAsync(CancellationToken ct)
    {
        await RegisterAsync(ct).ConfigureAwait(false);
        _loop = SupervisedLoop.Start("node lease renewal", RenewOnceAsync, _log, _stop.Token,
            firstRetry: TimeSpan.FromMilliseconds(200), longestRetry: _options.KeepAliveInterval);
    }

    /// <summary>Writes the node record under a fresh lease, and its settings when it joins for the first time.</summary>
    public async Task RegisterAsync(CancellationToken ct)
    {
        var me = _describe();
        var lease = await _etcd.GrantLeaseAsync(_options.LeaseTtl, ct).ConfigureAwait(false);
        // The record, the assignments and the settings are read, then written fenced on what was read: a placement
        // committed in between fails the compare and the free resources are counted again.
        while (true)
        {
            var nodeKey = ClusterKeys.Node(me.Name);
            var current = await _etcd.GetAsync(nodeKey, ct).ConfigureAwait(false);
            var assigned = await _etcd.GetPrefixAsync(ClusterKeys.AssignmentsOf(me.Name), ct: ct).ConfigureAwait(false);
            var used = new Strata.Scheduler.Resources();
            foreach (var kv in assigned.Kvs)
            {
                used += ClusterCodec.Decode(kv, ClusterJson.Default.Assignment).Resources.ToResources();
            }
            var record = me with { Free = ResourceAmounts.From(me.Capacity.ToResources() - used), Lease = lease, Joined = DateTimeOffset.UtcNow };
            var settingsKey = ClusterKeys.Settings(me.Name);
            var settings = await _etcd.GetAsync(settingsKey, ct).ConfigureAwait(false);
            var txn = new Etcdserverpb.TxnRequest();
            txn.Compare.Add(ClusterCodec.ModRevisionIs(nodeKey, current.Kvs.Count == 0 ? 0 : current.Kvs[0].ModRevision));
            txn.Success.Add(ClusterCodec.Put(nodeKey, ClusterCodec.Encode(record, ClusterJson.Default.NodeRecord), lease));
            if (settings.Kvs.Count == 0)
            {
                txn.Compare.Add(ClusterCodec.Absent(settingsKey));
                txn.Success.Add(ClusterCodec.Put(settingsKey, ClusterCodec.Encode(new NodeSettings(), ClusterJson.Default.NodeSettings)));
            }
            else
            {
                var s = ClusterCodec.Decode(settings.Kvs[0], ClusterJson.Default.NodeSettings);
                if (s.OfflineSince is not null)
                {
                    txn.Compare.Add(ClusterCodec.ModRevisionIs(settingsKey, settings.Kvs[0].ModRevision));
                    txn.Success.Add(ClusterCodec.Put(settingsKey, ClusterCodec.Encode(s with { OfflineSince = null }, ClusterJson.Default.NodeSettings)));
                }
            }
            if ((await _etcd.TxnAsync(txn, ct).ConfigureAwait(false)).Succeeded)
            {
                break;
            }
        }
        var end = new CancellationTokenSource();
        var previous = _termEnd;
        _termEnd = end;
        Volatile.Write(ref _term, new LeaseTerm(lease, end.Token));
        LogRegistered(_log, me.Name, lease, _options.LeaseTtl.TotalSeconds);
        if (previous is not null)
        {
            // Whoever worked under the old lease (the node agent) starts over under the new one.
            await previous.CancelAsync().ConfigureAwait(false);
            previous.Dispose();
        }
    }

    /// <summary>One renewal, TTL/3 after the last: a lease etcd no longer knows means registering again.</summary>
    private async Task RenewOnceAsync(CancellationToken ct)
    {
        await Task.Delay(_options.KeepAliveInterval, ct).ConfigureAwait(false);
        var ttl = await _etcd.KeepAliveOnceAsync(Lease, ct).ConfigureAwait(false);
        if (ttl <= 0)
        {
            LogLeaseLost(_log, _describe().Name);
            await RegisterAsync(ct).ConfigureAwait(false);
        }
    }

    /// <summary>Leaves at once: the lease is revoked, so the node is offline now rather than a TTL later.</summary>
    public async Task LeaveAsync(CancellationToken ct = default)
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }
        await _etcd.RevokeLeaseAsync(Lease, ct).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }
        _stop.Dispose();
        _termEnd?.Dispose();
    }

    [LoggerMessage(EventId = 1900, Level = LogLevel.Information, Message = "Cluster: node {Node} registered under lease {Lease:x} (TTL {Ttl} s)")]
    private static partial void LogRegistered(ILogger log, string node, long lease, double ttl);

    [LoggerMessage(EventId = 1901, Level = LogLevel.Warning, Message = "Cluster: node {Node}'s lease lapsed; registering again")]
    private static partial void LogLeaseLost(ILogger log, string node);

}

/// <summary>One registration of the node: its lease, and a token cancelled when the next registration replaces it.</summary>
public sealed record LeaseTerm(long Lease, CancellationToken Replaced);
