using Strata.Contracts;
using Strata.Contracts.Drivers;
using Xunit;

namespace Strata.Store.Tests;

/// <summary>What every IStateStore must do; each implementation derives from this.</summary>
public abstract class StateStoreConformanceTests : IDisposable
{
    protected abstract IStateStore Store { get; }

    protected static InstanceRecord Record(string name, string project = "default") => new()
    {
        Id = Guid.NewGuid().ToString("N"),
        Project = project,
        Name = name,
        Tier = Tier.Process,
        State = InstanceState.Creating,
        Spec = new InstanceSpec { Name = name, Args = ["sh", "-c", "echo hi"], Env = new Dictionary<string, string> { ["A"] = "1" } },
        CreatedAt = DateTimeOffset.UtcNow,
        Revision = 1,
    };

    [Fact]
    public async Task Insert_ThenGet_RoundTripsEveryField()
    {
        var r = Record("web") with
        {
            Handle = new DriverHandle { InstanceId = "x", Directory = "/d", Pid = 42, PidStartTicks = 7, Data = new Dictionary<string, string> { ["k"] = "v" } },
            ExitCode = 3,
            Reason = "why",
            RestartCount = 2,
            StoppedByUser = true,
            StartedAt = DateTimeOffset.UtcNow,
            FinishedAt = DateTimeOffset.UtcNow,
        };
        await Store.InsertAsync(r);
        var got = await Store.GetAsync(r.Id);
        Assert.NotNull(got);
        Assert.Equal(r.Name, got.Name);
        Assert.Equal(42, got.Handle!.Pid);
        Assert.Equal("v", got.Handle.Data["k"]);
        Assert.Equal(3, got.ExitCode);
        Assert.Equal("why", got.Reason);
        Assert.Equal(2, got.RestartCount);
        Assert.True(got.StoppedByUser);
        Assert.Equal(["sh", "-c", "echo hi"], got.Spec.Args);
        Assert.Equal(r.CreatedAt.ToUnixTimeMilliseconds(), got.CreatedAt.ToUnixTimeMilliseconds());
    }

    [Fact]
    public async Task Insert_DuplicateNameInProject_IsConflict()
    {
        await Store.InsertAsync(Record("web"));
        var e = await Assert.ThrowsAsync<StrataException>(() => Store.InsertAsync(Record("web")));
        Assert.Equal(ErrorKind.Conflict, e.Kind);
        Assert.Contains("web", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Insert_SameNameInAnotherProject_IsAllowed()
    {
        await Store.InsertAsync(Record("web", "a"));
        await Store.InsertAsync(Record("web", "b"));
        Assert.Equal(2, (await Store.ListAsync()).Count);
    }

    [Fact]
    public async Task Insert_ConcurrentSameName_ExactlyOneWins()
    {
        var results = await Task.WhenAll(Enumerable.Range(0, 20).Select(async _ =>
        {
            try
            {
                await Store.InsertAsync(Record("race"));
                return true;
            }
            catch (StrataException e) when (e.Kind == ErrorKind.Conflict)
            {
                return false;
            }
        }));
        Assert.Equal(1, results.Count(r => r));
    }

    [Fact]
    public async Task Update_WithStaleRevision_IsConflictAndKeepsTheNewer()
    {
        var r = Record("web");
        await Store.InsertAsync(r);
        await Store.UpdateAsync(r with { State = InstanceState.Created, Revision = 2 });
        var e = await Assert.ThrowsAsync<StrataException>(() => Store.UpdateAsync(r with { State = InstanceState.Failed, Revision = 2 }));
        Assert.Equal(ErrorKind.Conflict, e.Kind);
        Assert.Equal(InstanceState.Created, (await Store.GetAsync(r.Id))!.State);
    }

    [Fact]
    public async Task Update_Missing_IsNotFound()
    {
        var e = await Assert.ThrowsAsync<StrataException>(() => Store.UpdateAsync(Record("ghost") with { Revision = 2 }));
        Assert.Equal(ErrorKind.NotFound, e.Kind);
    }

    [Fact]
    public async Task Delete_RemovesAndReportsWhetherItExisted()
    {
        var r = Record("web");
        await Store.InsertAsync(r);
        Assert.True(await Store.DeleteAsync(r.Id));
        Assert.False(await Store.DeleteAsync(r.Id));
        Assert.Null(await Store.GetAsync(r.Id));
        await Store.InsertAsync(Record("web")); // the name is free again
    }

    public virtual void Dispose()
    {
        Store.Dispose();
        GC.SuppressFinalize(this);
    }
}

public sealed class InMemoryStateStoreTests : StateStoreConformanceTests
{
    protected override IStateStore Store { get; } = new InMemoryStateStore();
}

public sealed class SqliteStateStoreTests : StateStoreConformanceTests
{
    private readonly Strata.Testing.TempDirectory _dir = new("strata-store");
    private SqliteStateStore? _store;

    protected override IStateStore Store => _store ??= new SqliteStateStore(_dir.Combine("state.db"));

    [Fact]
    public async Task Reopen_KeepsCommittedChanges()
    {
        var r = Record("durable");
        await Store.InsertAsync(r);
        Store.Dispose();
        _store = new SqliteStateStore(_dir.Combine("state.db"));
        Assert.Equal("durable", (await Store.GetAsync(r.Id))!.Name);
    }

    [Fact]
    public void Open_UsesWalAndFullSync()
    {
        _ = Store;
        using var c = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={_dir.Combine("state.db")}");
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "PRAGMA journal_mode;";
        Assert.Equal("wal", cmd.ExecuteScalar() as string);
        cmd.CommandText = "PRAGMA user_version;";
        Assert.Equal((long)SqliteStateStore.SchemaVersion, cmd.ExecuteScalar());
    }

    [Fact]
    public void Open_SchemaNewerThanThisBuild_IsRefusedWithAClearMessage()
    {
        var path = _dir.Combine("future.db");
        using (var c = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path};Pooling=False"))
        {
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = "PRAGMA user_version = 999;";
            cmd.ExecuteNonQuery();
        }
        var e = Assert.Throws<StrataException>(() => new SqliteStateStore(path));
        Assert.Contains("newer", e.Message, StringComparison.Ordinal);
    }

    public override void Dispose()
    {
        base.Dispose();
        _dir.Dispose();
    }
}
