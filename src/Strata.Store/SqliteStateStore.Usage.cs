namespace Strata.Store;

public sealed partial class SqliteStateStore : IUsageStore
{
    public Task<IReadOnlyList<UsageHistoryRecord>> ListUsageAsync(CancellationToken cancellationToken = default) =>
        WithConnectionAsync<IReadOnlyList<UsageHistoryRecord>>(connection => ReadAll(connection,
            "SELECT instance_id, project, name, tier, history, policy, updated_at, removed_at FROM usage_histories ORDER BY project, name;",
            reader => new UsageHistoryRecord
            {
                InstanceId = reader.GetString(0),
                Project = reader.GetString(1),
                Name = reader.GetString(2),
                Tier = reader.GetString(3),
                History = reader.GetString(4),
                Policy = reader.GetString(5),
                UpdatedAt = ParseTime(reader.GetString(6)),
                RemovedAt = reader.IsDBNull(7) ? null : ParseTime(reader.GetString(7)),
            }), cancellationToken);

    public Task SaveUsageAsync(IReadOnlyList<UsageHistoryRecord> records, CancellationToken cancellationToken = default) =>
        WithConnectionAsync(connection =>
        {
            using var transaction = connection.BeginTransaction();
            foreach (var r in records)
            {
                using var command = Command(connection,
                    """
                    INSERT INTO usage_histories (instance_id, project, name, tier, history, policy, updated_at, removed_at)
                    VALUES ($id, $project, $name, $tier, $history, $policy, $updated, $removed)
                    ON CONFLICT (instance_id) DO UPDATE SET project = excluded.project, name = excluded.name, tier = excluded.tier,
                        history = excluded.history, policy = excluded.policy, updated_at = excluded.updated_at, removed_at = excluded.removed_at;
                    """,
                    ("$id", r.InstanceId), ("$project", r.Project), ("$name", r.Name), ("$tier", r.Tier), ("$history", r.History),
                    ("$policy", r.Policy), ("$updated", Time(r.UpdatedAt)), ("$removed", r.RemovedAt is { } t ? Time(t) : DBNull.Value));
                command.Transaction = transaction;
                command.ExecuteNonQuery();
            }
            transaction.Commit();
        }, cancellationToken);

    public Task<int> PruneUsageAsync(DateTimeOffset removedBefore, CancellationToken cancellationToken = default) =>
        WithConnectionAsync(connection =>
        {
            using var command = Command(connection, "DELETE FROM usage_histories WHERE removed_at IS NOT NULL AND removed_at < $before;", ("$before", Time(removedBefore)));
            return command.ExecuteNonQuery();
        }, cancellationToken);
}
