using Strata.Cluster.Etcd;
using Strata.Scheduler;
using Strata.Scheduler.Rebalancing;

namespace Strata.Cluster.Rebalancing;

/// <summary>
/// The rebalancer's state in etcd (<c>rebalance</c>): whichever node leads, and <c>strata rebalance --apply</c> on any
/// node, see the same rounds and cooldowns. Moves older than the cooldown are dropped when it is saved. Decisions are
/// cluster events (<c>strata cluster status</c> shows them), kept an hour like every cluster event.
/// </summary>
public sealed class EtcdRebalanceJournal(EtcdConnection etcd, TimeSpan cooldown, TimeProvider? time = null) : IRebalanceJournal
{
    public async Task<RebalanceState> LoadAsync(CancellationToken ct) =>
        (await etcd.GetAsync(ClusterKeys.Rebalance, ct).ConfigureAwait(false)).Kvs.FirstOrDefault() is { } kv
            ? ClusterCodec.Decode(kv, SchedulerJson.Default.RebalanceState)
            : new RebalanceState();

    public Task SaveAsync(RebalanceState state, CancellationToken ct)
    {
        var now = (time ?? TimeProvider.System).GetUtcNow();
        var kept = state with
        {
            LastMoved = state.LastMoved.Where(m => now - m.Value < cooldown).ToDictionary(m => m.Key, m => m.Value, StringComparer.Ordinal),
        };
        return etcd.PutAsync(ClusterKeys.Rebalance, ClusterCodec.Encode(kept, SchedulerJson.Default.RebalanceState), ct: ct);
    }

    public Task EventAsync(string kind, string message, CancellationToken ct) => ClusterEvents.AddAsync(etcd, kind, message, ct);
}
