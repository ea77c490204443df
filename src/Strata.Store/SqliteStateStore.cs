using System.Globalization;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Strata.Contracts;

namespace Strata.Store;

/// <summary>
/// The default store: one embedded SQLite file in WAL mode with <c>synchronous=FULL</c>, so a committed
/// change survives power loss. One connection, serialised by a semaphore: SQLite has a single writer
/// anyway, and the control plane keeps its own in-memory view for reads.
///
/// Exception: instances removed when they end (<see cref="InstanceSpec.AutoRemove"/>) are written with
/// <c>synchronous=NORMAL</c> (no fsync per commit): their rows survive a daemon crash (the WAL is in the page
/// cache) but maybe not a host crash — after which their workloads are gone too, and a missing row only
/// leaves an instance directory that the next start sweeps. It takes two to three fsyncs off every
/// <c>run --rm</c>. A later FULL commit makes the earlier NORMAL ones durable too (the WAL is sequential).
/// </summary>
public sealed partial class SqliteStateStore : IStateStore
{
    /// <summary>
    /// Schema migrations, applied in order; the index + 1 is the schema version stored in PRAGMA user_version.
    /// Append only: never edit a migration that has shipped.
    /// </summary>
    internal static readonly string[] Migrations =
    [
        """
        CREATE TABLE instances (
            id              TEXT PRIMARY KEY,
            project         TEXT NOT NULL,
            name            TEXT NOT NULL,
            tier            INTEGER NOT NULL,
            state           INTEGER NOT NULL,
            spec            TEXT NOT NULL,
            handle          TEXT,
            exit_code       INTEGER,
            reason          TEXT,
            restart_count   INTEGER NOT NULL DEFAULT 0,
            stopped_by_user INTEGER NOT NULL DEFAULT 0,
            created_at      TEXT NOT NULL,
            started_at      TEXT,
            finished_at     TEXT,
            revision        INTEGER NOT NULL,
            UNIQUE (project, name)
        );
        """,
        // 2: the tier advisor's decision (Placement JSON), null for instances created before.
        "ALTER TABLE instances ADD COLUMN placement TEXT;",
        // 3: projects (quota and restrictions as JSON) and their API tokens (SHA-256 only). Every project an
        // existing instance names becomes a row; 'default' always exists and allows everything.
        // Restrictions of projects found in old rows are unrestricted too: they were made by administrators.
        """
        CREATE TABLE projects (
            name         TEXT PRIMARY KEY,
            description  TEXT,
            created_at   TEXT NOT NULL,
            quota        TEXT NOT NULL,
            restrictions TEXT NOT NULL
        );
        CREATE TABLE tokens (
            id          TEXT PRIMARY KEY,
            project     TEXT NOT NULL REFERENCES projects(name),
            role        TEXT NOT NULL,
            hash        TEXT NOT NULL UNIQUE,
            description TEXT,
            created_at  TEXT NOT NULL
        );
        UPDATE instances SET project = 'default' WHERE project IS NULL OR project = '';
        INSERT INTO projects (name, description, created_at, quota, restrictions)
            VALUES ('default', 'the project of every request that names none', '1970-01-01T00:00:00.0000000Z', '{}',
                    '{"allowProcessTier":true,"allowHostNetwork":true,"allowHostMounts":true,"allowDevices":true,"allowCapAdd":true}');
        INSERT OR IGNORE INTO projects (name, description, created_at, quota, restrictions)
            SELECT DISTINCT project, NULL, '1970-01-01T00:00:00.0000000Z', '{}',
                   '{"allowProcessTier":true,"allowHostNetwork":true,"allowHostMounts":true,"allowDevices":true,"allowCapAdd":true}'
            FROM instances;
        """,
        // 4: usage histories for right-sizing (docs/rightsizing.md): one row per instance, kept a week after removal.
        """
        CREATE TABLE usage_histories (
            instance_id TEXT PRIMARY KEY,
            project     TEXT NOT NULL,
            name        TEXT NOT NULL,
            tier        TEXT NOT NULL,
            history     TEXT NOT NULL,
            policy      TEXT NOT NULL,
            updated_at  TEXT NOT NULL,
            removed_at  TEXT
        );
        """,
        // 5: a project's default right-sizing mode (off, recommend, auto); null: recommend.
        "ALTER TABLE projects ADD COLUMN rightsize TEXT;",
    ];

    public static int SchemaVersion => Migrations.Length;

    private readonly SqliteConnection _connection;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly HashSet<string> _relaxed = new(StringComparer.Ordinal);
    private readonly ILogger _logger;

    public SqliteStateStore(string path, ILogger<SqliteStateStore>? logger = null)
    {
        Path = path;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        var builder = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = false,
        };
        _connection = new SqliteConnection(builder.ToString());
        _connection.Open();
        Execute("PRAGMA journal_mode=WAL;");
        Execute("PRAGMA synchronous=FULL;");
        Execute("PRAGMA busy_timeout=5000;");
        Execute("PRAGMA foreign_keys=ON;");
        Migrate();
    }

    public string Path { get; }

    public string Description => $"sqlite {Path}";

    private void Execute(string sql)
    {
        using var command = Command(_connection, sql);
        command.ExecuteNonQuery();
    }

    private long Scalar(string sql)
    {
        using var command = Command(_connection, sql);
        return Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    private void Migrate()
    {
        var version = (int)Scalar("PRAGMA user_version;");
        if (version > Migrations.Length)
        {
            throw new StrataException(ErrorKind.Unavailable,
                $"the state database {Path} has schema version {version}, newer than this Strata understands ({Migrations.Length}); run a newer stratad or use another --root");
        }
        for (var i = version; i < Migrations.Length; i++)
        {
            ExecuteInTransaction(_connection, [Migrations[i], $"PRAGMA user_version = {i + 1};"]);
            LogMigrated(Path, i, i + 1);
        }
        LogOpened(Path, Migrations.Length);
    }

    public async Task InsertAsync(InstanceRecord record, CancellationToken cancellationToken = default)
    {
        try
        {
            await WithConnectionAsync(connection =>
            {
                using var command = Command(connection, """
                    INSERT INTO instances (id, project, name, tier, state, spec, handle, exit_code, reason, restart_count,
                                           stopped_by_user, created_at, started_at, finished_at, revision, placement)
                    VALUES ($id, $project, $name, $tier, $state, $spec, $handle, $exit_code, $reason, $restart_count,
                            $stopped_by_user, $created_at, $started_at, $finished_at, $revision, $placement);
                    """);
                Bind(command, record);
                using (Durability(record.Spec.AutoRemove))
                {
                    command.ExecuteNonQuery();
                }
                if (record.Spec.AutoRemove)
                {
                    _relaxed.Add(record.Id);
                }
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (SqliteException e) when (e.SqliteErrorCode == 19 /* SQLITE_CONSTRAINT */)
        {
            throw StoreErrors.NameTaken(record.Project, record.Name);
        }
    }

    public Task UpdateAsync(InstanceRecord record, CancellationToken cancellationToken = default) =>
        WithConnectionAsync(connection =>
        {
            using var command = Command(connection, """
                UPDATE instances SET project = $project, name = $name, tier = $tier, state = $state, spec = $spec,
                    handle = $handle, exit_code = $exit_code, reason = $reason, restart_count = $restart_count,
                    stopped_by_user = $stopped_by_user, created_at = $created_at, started_at = $started_at,
                    finished_at = $finished_at, revision = $revision, placement = $placement
                WHERE id = $id AND revision = $base_revision;
                """);
            Bind(command, record);
            command.Parameters.AddWithValue("$base_revision", record.Revision - 1);
            using (Durability(record.Spec.AutoRemove))
            {
                if (command.ExecuteNonQuery() == 1)
                {
                    return;
                }
            }
            using var exists = Command(connection, "SELECT COUNT(*) FROM instances WHERE id = $id;", ("$id", record.Id));
            var gone = Convert.ToInt64(exists.ExecuteScalar(), CultureInfo.InvariantCulture) == 0;
            LogUpdateRefused(record.Project, record.Name, record.Revision - 1, gone ? "the instance is gone" : "another writer changed it first");
            throw gone ? StoreErrors.Gone(record.Name) : StoreErrors.Stale(record.Name);
        }, cancellationToken);

    public Task<bool> DeleteAsync(string id, CancellationToken cancellationToken = default) =>
        WithConnectionAsync(connection =>
        {
            using var command = Command(connection, "DELETE FROM instances WHERE id = $id;", ("$id", id));
            using (Durability(_relaxed.Remove(id)))
            {
                return command.ExecuteNonQuery() == 1;
            }
        }, cancellationToken);

    public async Task<InstanceRecord?> GetAsync(string id, CancellationToken cancellationToken = default)
    {
        var rows = await WithConnectionAsync(connection =>
            ReadAll(connection, $"{SelectColumns} WHERE id = $id;", Read, ("$id", id)), cancellationToken).ConfigureAwait(false);
        return rows.Count == 0 ? null : rows[0];
    }

    public Task<IReadOnlyList<InstanceRecord>> ListAsync(CancellationToken cancellationToken = default) =>
        WithConnectionAsync<IReadOnlyList<InstanceRecord>>(connection =>
        {
            var result = ReadAll(connection, $"{SelectColumns} ORDER BY created_at, id;", Read);
            foreach (var record in result)
            {
                if (record.Spec.AutoRemove)
                {
                    _relaxed.Add(record.Id);
                }
            }
            return result;
        }, cancellationToken);

    /// <summary>While disposed-of, commits are <c>synchronous=NORMAL</c> when <paramref name="relaxed"/>; call under the gate.</summary>
    private RelaxedScope? Durability(bool relaxed)
    {
        if (!relaxed)
        {
            return null;
        }
        Execute("PRAGMA synchronous=NORMAL;");
        return new RelaxedScope(this);
    }

    private sealed class RelaxedScope(SqliteStateStore store) : IDisposable
    {
        public void Dispose() => store.Execute("PRAGMA synchronous=FULL;");
    }

    private const string SelectColumns = """
        SELECT id, project, name, tier, state, spec, handle, exit_code, reason, restart_count, stopped_by_user,
               created_at, started_at, finished_at, revision, placement FROM instances
        """;

    private static void Bind(SqliteCommand command, InstanceRecord r)
    {
        var p = command.Parameters;
        p.AddWithValue("$id", r.Id);
        p.AddWithValue("$project", r.Project);
        p.AddWithValue("$name", r.Name);
        p.AddWithValue("$tier", (int)r.Tier);
        p.AddWithValue("$state", (int)r.State);
        p.AddWithValue("$spec", JsonSerializer.Serialize(r.Spec, StrataJsonContext.Default.InstanceSpec));
        p.AddWithValue("$handle", r.Handle is null ? DBNull.Value : JsonSerializer.Serialize(r.Handle, StrataJsonContext.Default.DriverHandle));
        p.AddWithValue("$exit_code", r.ExitCode is { } code ? code : DBNull.Value);
        p.AddWithValue("$reason", (object?)r.Reason ?? DBNull.Value);
        p.AddWithValue("$restart_count", r.RestartCount);
        p.AddWithValue("$stopped_by_user", r.StoppedByUser ? 1 : 0);
        p.AddWithValue("$created_at", Time(r.CreatedAt));
        p.AddWithValue("$started_at", r.StartedAt is { } s ? Time(s) : DBNull.Value);
        p.AddWithValue("$finished_at", r.FinishedAt is { } f ? Time(f) : DBNull.Value);
        p.AddWithValue("$revision", r.Revision);
        p.AddWithValue("$placement", r.Placement is null ? DBNull.Value : JsonSerializer.Serialize(r.Placement, StrataJsonContext.Default.Placement));
    }

    private static string Time(DateTimeOffset t) => t.UtcDateTime.ToString("O", CultureInfo.InvariantCulture);

    private static DateTimeOffset ParseTime(string s) =>
        DateTimeOffset.Parse(s, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);

    private static InstanceRecord Read(SqliteDataReader reader) => new()
    {
        Id = reader.GetString(0),
        Project = reader.GetString(1),
        Name = reader.GetString(2),
        Tier = (Tier)reader.GetInt32(3),
        State = (InstanceState)reader.GetInt32(4),
        Spec = JsonSerializer.Deserialize(reader.GetString(5), StrataJsonContext.Default.InstanceSpec)!,
        Handle = reader.IsDBNull(6) ? null : JsonSerializer.Deserialize(reader.GetString(6), StrataJsonContext.Default.DriverHandle),
        ExitCode = reader.IsDBNull(7) ? null : reader.GetInt32(7),
        Reason = reader.IsDBNull(8) ? null : reader.GetString(8),
        RestartCount = reader.GetInt32(9),
        StoppedByUser = reader.GetInt32(10) != 0,
        CreatedAt = ParseTime(reader.GetString(11)),
        StartedAt = reader.IsDBNull(12) ? null : ParseTime(reader.GetString(12)),
        FinishedAt = reader.IsDBNull(13) ? null : ParseTime(reader.GetString(13)),
        Revision = reader.GetInt64(14),
        Placement = reader.IsDBNull(15) ? null : JsonSerializer.Deserialize(reader.GetString(15), StrataJsonContext.Default.Placement),
    };

    public void Dispose()
    {
        _connection.Dispose();
        _gate.Dispose();
    }
}
