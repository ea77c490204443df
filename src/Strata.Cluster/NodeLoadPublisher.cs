using Microsoft.Extensions.Logging;
using Strata.Cluster.Etcd;

namespace Strata.Cluster;

/// <summary>
/// Publishes this node's predicted load (<c>load/NODE</c>, a <see cref="NodeLoadReport"/> under the node's lease)
/// for the scheduler leader's placement scores and the rebalancer. Each pass reads the node's assignments (what
/// each instance reserves) and asks <c>predict</c> for the instances with a usage history (their recommendation);
/// it writes only when that changed or the node registered under a new lease, so a steady node costs etcd nothing.
/// Predictions are rounded (10 millicores, 1 MiB) so that noise does not rewrite the key every pass.
/// </summary>
public sealed partial class NodeLoadPublisher : IAsyncDisposable
{
    private readonly EtcdConnection _etcd;
    private readonly NodeMembership _membership;
    private readonly string _node;
    private readonly Func<CancellationToken, Task<IReadOnlyList<PredictedUse>>> _predict;
    private readonly ILogger _log;
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;
    private string? _published;
    private long _publishedLease;

    /// <param name="predict">The node's instances with a usage history and their predictions (Requested is ignored: the assignment's reservation is used).</param>
    public NodeLoadPublisher(EtcdConnection etcd, NodeMembership membership, string node, Func<CancellationToken, Task<IReadOnlyList<PredictedUse>>> predict, TimeSpan interval, ILogger log)
    {
        _etcd = etcd;
        _membership = membership;
        _node = node;
        _predict = predict;
        Interval = interval;
        _log = log;
    }

    /// <summary>How often the node looks at its predictions again.</summary>
    public TimeSpan Interval { get; }

    /// <summary>Reports written since it started (a steady node writes one per registration).</summary>
    public int Writes { get; private set; }

    public void Start() => _loop = SupervisedLoop.Start("node load reports", async ct =>
    {
        await PublishOnceAsync(ct).ConfigureAwait(false);
        await Task.Delay(Interval, ct).ConfigureAwait(false);
    }, _log, _stop.Token);

    /// <summary>One pass: the assignments joined with the predictions, written when they changed.</summary>
    public async Task PublishOnceAsync(CancellationToken ct)
    {
        var lease = _membership.Lease;
        var assigned = await _etcd.GetPrefixAsync(ClusterKeys.AssignmentsOf(_node), ct: ct).ConfigureAwait(false);
        var reserved = new Dictionary<(string, string), ResourceAmounts>();
        foreach (var kv in assigned.Kvs)
        {
            reserved[ClusterKeys.ProjectAndName(ClusterCodec.Key(kv))] = ClusterCodec.Decode(kv, ClusterJson.Default.Assignment).Resources;
        }
        var predictions = await _predict(ct).ConfigureAwait(false);
        var list = predictions
            .Where(p => reserved.ContainsKey((p.Project, p.Name)))
            .Select(p => p with { Requested = reserved[(p.Project, p.Name)], Predicted = Round(p.Predicted), Forecast = p.Forecast is { } f ? Round(f) : null })
            .OrderBy(p => p.Project, StringComparer.Ordinal).ThenBy(p => p.Name, StringComparer.Ordinal)
            .ToList();
        var content = string.Join('\n', list.Select(p => p.ToString()));
        if (content == _published && lease == _publishedLease)
        {
            return;
        }
        var report = new NodeLoadReport(DateTimeOffset.UtcNow, list);
        await _etcd.PutAsync(ClusterKeys.Load(_node), ClusterCodec.Encode(report, ClusterJson.Default.NodeLoadReport), lease, ct).ConfigureAwait(false);
        _published = content;
        _publishedLease = lease;
        Writes++;
        LogPublished(_log, _node, list.Count, assigned.Kvs.Count);
    }

    private static ResourceAmounts Round(ResourceAmounts r) =>
        new((r.CpuMillis + 9) / 10 * 10, (r.MemoryBytes + (1L << 20) - 1) >> 20 << 20);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }
        _stop.Dispose();
    }
}
