namespace Strata.Store;

/// <summary>
/// Durable state of the control plane. Implementations: <see cref="SqliteStateStore"/> (default,
/// embedded) and <see cref="InMemoryStateStore"/> (tests). Every implementation passes the
/// StateStoreConformanceTests.
/// </summary>
public interface IStateStore : IDisposable
{
    /// <summary>A short description ("sqlite /var/lib/strata/state.db").</summary>
    string Description { get; }

    /// <summary>Inserts a new instance. Throws a Conflict StrataException if (project, name) or id exists.</summary>
    Task InsertAsync(InstanceRecord record, CancellationToken cancellationToken = default);

    /// <summary>
    /// Replaces the record whose revision is <c>record.Revision - 1</c>. Throws a Conflict StrataException if
    /// the stored revision differs (someone else changed it) and NotFound if it is gone.
    /// </summary>
    Task UpdateAsync(InstanceRecord record, CancellationToken cancellationToken = default);

    Task<bool> DeleteAsync(string id, CancellationToken cancellationToken = default);

    Task<InstanceRecord?> GetAsync(string id, CancellationToken cancellationToken = default);

    Task<IReadOnlyList<InstanceRecord>> ListAsync(CancellationToken cancellationToken = default);
}
