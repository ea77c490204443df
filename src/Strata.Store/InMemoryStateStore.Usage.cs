namespace Strata.Store;

public sealed partial class InMemoryStateStore : IUsageStore
{
    private readonly Dictionary<string, UsageHistoryRecord> _usage = new(StringComparer.Ordinal);

    public Task<IReadOnlyList<UsageHistoryRecord>> ListUsageAsync(CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return Task.FromResult<IReadOnlyList<UsageHistoryRecord>>([.. _usage.Values.OrderBy(u => u.Project, StringComparer.Ordinal).ThenBy(u => u.Name, StringComparer.Ordinal)]);
        }
    }

    public Task SaveUsageAsync(IReadOnlyList<UsageHistoryRecord> records, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            foreach (var r in records)
            {
                _usage[r.InstanceId] = r;
            }
        }
        return Task.CompletedTask;
    }

    public Task<int> PruneUsageAsync(DateTimeOffset removedBefore, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            var gone = _usage.Values.Where(u => u.RemovedAt is { } t && t < removedBefore).Select(u => u.InstanceId).ToList();
            gone.ForEach(id => _usage.Remove(id));
            return Task.FromResult(gone.Count);
        }
    }
}
