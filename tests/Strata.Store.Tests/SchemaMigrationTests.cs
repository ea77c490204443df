using Microsoft.Data.Sqlite;
using Strata.Contracts;
using Xunit;

namespace Strata.Store.Tests;

/// <summary>Databases written by an earlier stratad must open, migrate, and keep every row.</summary>
public sealed class SchemaMigrationTests : IDisposable
{
    private readonly Strata.Testing.TempDirectory _dir = new("strata-migrate");

    /// <summary>Schema version 1 exactly as it shipped (a frozen copy: the store's own list may grow).</summary>
    private const string SchemaV1 = """
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
        PRAGMA user_version = 1;
        """;

    [Fact]
    public async Task Open_Version1Database_MigratesAndKeepsRows()
    {
        var path = _dir.Combine("v1.db");
        using (var c = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = SchemaV1 + """
                INSERT INTO instances (id, project, name, tier, state, spec, handle, exit_code, reason, restart_count,
                                       stopped_by_user, created_at, started_at, finished_at, revision)
                VALUES ('id1', 'default', 'old', 1, 4, '{"name":"old","tier":"process","args":["true"]}', NULL, 0, NULL, 2,
                        1, '2024-05-01T10:00:00.0000000Z', NULL, NULL, 7);
                """;
            cmd.ExecuteNonQuery();
        }

        var log = new Strata.Testing.RecordingLogger<SqliteStateStore>();
        using var store = new SqliteStateStore(path, log);
        // Each applied migration is logged with the file and both versions, then the open itself.
        Assert.Equal(SqliteStateStore.SchemaVersion - 1, log.WithId(6002).Count);
        Assert.Contains($"{path} migrated from schema version 1 to 2", log.WithId(6002)[0].Message, StringComparison.Ordinal);
        Assert.Contains($"at schema version {SqliteStateStore.SchemaVersion}", Assert.Single(log.WithId(6001)).Message, StringComparison.Ordinal);
        var old = await store.GetAsync("id1");
        Assert.NotNull(old);
        Assert.Equal("old", old.Name);
        Assert.Equal(["true"], old.Spec.Args);
        Assert.Equal(2, old.RestartCount);
        Assert.Equal(7, old.Revision);
        Assert.Null(old.Placement);

        // The migrated database takes the new column on update and on insert.
        var placement = new Placement
        {
            Tier = "process",
            ChosenBy = "request",
            Reasons = [new PlacementReason("T0-requested", "tier process was named in the request")],
        };
        await store.UpdateAsync(old with { Revision = 8, Placement = placement });
        var updated = await store.GetAsync("id1");
        Assert.Equal("T0-requested", updated!.Placement!.Reasons[0].Rule);

        using var c2 = new SqliteConnection($"Data Source={path};Pooling=False");
        c2.Open();
        using var version = c2.CreateCommand();
        version.CommandText = "PRAGMA user_version;";
        Assert.Equal((long)SqliteStateStore.SchemaVersion, version.ExecuteScalar());
        Assert.True(SqliteStateStore.SchemaVersion >= 2);
    }

    [Fact]
    public async Task Open_Version1Database_EveryInstancesProjectBecomesAProject_DefaultAlwaysExists()
    {
        var path = _dir.Combine("v1-projects.db");
        using (var c = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = SchemaV1 + """
                INSERT INTO instances (id, project, name, tier, state, spec, handle, exit_code, reason, restart_count,
                                       stopped_by_user, created_at, started_at, finished_at, revision)
                VALUES ('id1', 'team', 'old', 1, 4, '{"name":"old","tier":"process","args":["true"]}', NULL, 0, NULL, 0,
                        1, '2024-05-01T10:00:00.0000000Z', NULL, NULL, 1);
                """;
            cmd.ExecuteNonQuery();
        }

        using var store = new SqliteStateStore(path);
        var projects = await store.ListProjectsAsync();
        Assert.Equal(["default", "team"], projects.Select(p => p.Name).Order(StringComparer.Ordinal));
        // Projects that only existed as names were made by administrators: they keep working as before.
        Assert.All(projects, p => Assert.True(p.Restrictions.AllowHostMounts && p.Restrictions.AllowProcessTier));
        Assert.Null(projects[0].Quota.Instances);
        Assert.Equal("team", (await store.GetAsync("id1"))!.Project);

        await store.InsertTokenAsync(new TokenRecord { Id = "abc", Project = "team", Role = "viewer", Hash = "00", CreatedAt = DateTimeOffset.UnixEpoch });
        Assert.Equal("abc", Assert.Single(await store.ListTokensAsync()).Id);
        Assert.True(await store.DeleteProjectAsync("team"));
        Assert.Empty(await store.ListTokensAsync());
    }

    [Fact]
    public async Task Insert_WithPlacement_RoundTrips()
    {
        using var store = new SqliteStateStore(_dir.Combine("new.db"));
        var record = new InstanceRecord
        {
            Id = "id2",
            Project = "default",
            Name = "placed",
            Tier = Tier.Vm,
            State = InstanceState.Created,
            Spec = new InstanceSpec { Name = "placed", Requirements = new WorkloadRequirements { Trust = "untrusted" } },
            CreatedAt = DateTimeOffset.UtcNow,
            Revision = 1,
            Placement = new Placement
            {
                Tier = "vm",
                ChosenBy = "advisor",
                Reasons = [new PlacementReason("R8-untrusted", "untrusted tenants never share a kernel")],
                Fallback = new PlacementFallback("sandbox", "vm", "no sandbox here"),
                RunnersUp = [new PlacementRunnerUp("container", false, "R8-untrusted", "~50 ms")],
            },
        };
        await store.InsertAsync(record);
        var got = await store.GetAsync("id2");
        Assert.Equal("untrusted", got!.Spec.Requirements!.Trust);
        Assert.Equal("sandbox", got.Placement!.Fallback!.Ideal);
        Assert.Equal("container", got.Placement.RunnersUp![0].Tier);
    }

    public void Dispose() => _dir.Dispose();
}
