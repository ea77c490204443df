using Strata.Contracts;

namespace Strata.Store;

/// <summary>A real, non-durable store for tests and for the fake-driver daemon mode.</summary>
public sealed partial class InMemoryStateStore : IStateStore
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, InstanceRecord> _byId = new(StringComparer.Ordinal);

    public string Description => "memory";

    public Task InsertAsync(InstanceRecord record, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            if (_byId.ContainsKey(record.Id))
            {
                throw StrataException.Conflict($"instance id '{record.Id}' exists already");
            }
            if (_byId.Values.Any(r => r.Project == record.Project && r.Name == record.Name))
            {
                throw StoreErrors.NameTaken(record.Project, record.Name);
            }
            _byId[record.Id] = record;
        }
        return Task.CompletedTask;
    }

    public Task UpdateAsync(InstanceRecord record, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            if (!_byId.TryGetValue(record.Id, out var current))
            {
                throw StoreErrors.Gone(record.Name);
            }
            if (current.Revision != record.Revision - 1)
            {
                throw StoreErrors.Stale(record.Name);
            }
            _byId[record.Id] = record;
        }
        return Task.CompletedTask;
    }

    public Task<bool> DeleteAsync(string id, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return Task.FromResult(_byId.Remove(id));
        }
    }

    public Task<InstanceRecord?> GetAsync(string id, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return Task.FromResult(_byId.GetValueOrDefault(id));
        }
    }

    public Task<IReadOnlyList<InstanceRecord>> ListAsync(CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return Task.FromResult<IReadOnlyList<InstanceRecord>>([.. _byId.Values.OrderBy(r => r.CreatedAt)]);
        }
    }

    public void Dispose()
    {
    }
}

internal static class StoreErrors
{
    public static StrataException NameTaken(string project, string name) =>
        StrataException.Conflict($"an instance named '{name}' exists already in project '{project}'; choose another name or remove it first");

    public static StrataException Gone(string name) => StrataException.NotFound($"instance '{name}' no longer exists");

    public static StrataException Stale(string name) =>
        StrataException.Conflict($"instance '{name}' was changed concurrently; retry the operation");
}
