using Microsoft.Data.Sqlite;

namespace Strata.Store;

/// <summary>
/// The one way to reach the connection: every public operation runs its work under the gate through
/// <see cref="WithConnectionAsync{T}(Func{SqliteConnection, T}, CancellationToken)"/>; commands, readers and
/// transactions are built by the helpers below rather than spelled out again in each operation.
/// </summary>
public sealed partial class SqliteStateStore
{
    /// <summary>Runs <paramref name="work"/> alone on the connection (the gate serialises callers) and returns its result.</summary>
    private async Task<T> WithConnectionAsync<T>(Func<SqliteConnection, T> work, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return work(_connection);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Runs <paramref name="work"/> alone on the connection (the gate serialises callers).</summary>
    private Task WithConnectionAsync(Action<SqliteConnection> work, CancellationToken cancellationToken) =>
        WithConnectionAsync(connection =>
        {
            work(connection);
            return true;
        }, cancellationToken);

    /// <summary>A command for <paramref name="sql"/> with its named parameters bound.</summary>
    private static SqliteCommand Command(SqliteConnection connection, string sql, params (string Name, object Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }
        return command;
    }

    /// <summary>Every row <paramref name="sql"/> selects, each turned into a value by <paramref name="read"/>.</summary>
    private static List<T> ReadAll<T>(SqliteConnection connection, string sql, Func<SqliteDataReader, T> read,
        params (string Name, object Value)[] parameters)
    {
        using var command = Command(connection, sql, parameters);
        using var reader = command.ExecuteReader();
        var result = new List<T>();
        while (reader.Read())
        {
            result.Add(read(reader));
        }
        return result;
    }

    /// <summary>
    /// Runs <paramref name="statements"/> in order in one transaction, all with the same named parameters, and
    /// returns how many rows each changed. Nothing is committed if one fails.
    /// </summary>
    private static int[] ExecuteInTransaction(SqliteConnection connection, IReadOnlyList<string> statements,
        params (string Name, object Value)[] parameters)
    {
        using var transaction = connection.BeginTransaction();
        var changed = new int[statements.Count];
        for (var i = 0; i < statements.Count; i++)
        {
            using var command = Command(connection, statements[i], parameters);
            command.Transaction = transaction;
            changed[i] = command.ExecuteNonQuery();
        }
        transaction.Commit();
        return changed;
    }
}
