using Strata.Contracts;
using Strata.Control.Projects;

namespace Strata.Control.Tests;

/// <summary>
/// Two nodes' project services over one shared store (a cluster's etcd in production): a token made on one is
/// accepted by the other at once, before the other's watch reloaded its view; an unknown or wrong token is still
/// refused, and a single host (no shared store) never reads the store for an unknown token.
/// </summary>
public sealed class ProjectServiceSharedStoreTests : IAsyncLifetime
{
    private readonly InstanceServiceHarness _h = new();
    private ProjectService _a = null!;
    private ProjectService _b = null!;

    public async Task InitializeAsync()
    {
        await _h.InitializeAsync();
        _a = new ProjectService(_h.Store, _h.Time, _h.Drivers);
        _b = new ProjectService(_h.Store, _h.Time, _h.Drivers);
        await _a.InitializeAsync(CancellationToken.None);
        await _b.InitializeAsync(CancellationToken.None);
    }

    public async Task DisposeAsync() => await _h.DisposeAsync();

    [Fact]
    public async Task ATokenMadeOnAnotherNode_IsAcceptedBeforeTheWatchBringsIt()
    {
        await _a.CreateAsync(new CreateProjectRequest { Name = "burst" }, CancellationToken.None);
        var (_, token) = await _a.CreateTokenAsync("burst", ProjectRoles.Operator, null, CancellationToken.None);

        // Node B's view predates the token: the plain lookup refuses it, as every node did until its watch caught up.
        Assert.Null(_b.Authenticate(token));
        // A single host's store is its own: nothing more is read.
        Assert.Null(await _b.AuthenticateAsync(token, CancellationToken.None));

        _b.SharedStore = true;
        var found = await _b.AuthenticateAsync(token, CancellationToken.None);
        Assert.NotNull(found);
        Assert.Equal("burst", found.Project);
        Assert.Equal(ProjectRoles.Operator, found.Role);

        // Still refused: an unknown id, a known id with the wrong secret, and not a token at all.
        Assert.Null(await _b.AuthenticateAsync("strata_nosuchid_secret", CancellationToken.None));
        var id = token["strata_".Length..token.IndexOf('_', "strata_".Length)];
        Assert.Null(await _b.AuthenticateAsync($"strata_{id}_wrongsecret", CancellationToken.None));
        Assert.Null(await _b.AuthenticateAsync("Bearer-ish garbage", CancellationToken.None));
    }

    [Fact]
    public async Task ManyRequestsMissingAtOnce_AllFindTheNewToken()
    {
        _b.SharedStore = true;
        await _a.CreateAsync(new CreateProjectRequest { Name = "many" }, CancellationToken.None);
        var (_, token) = await _a.CreateTokenAsync("many", ProjectRoles.Operator, null, CancellationToken.None);
        var results = await Task.WhenAll(Enumerable.Range(0, 24).Select(_ => Task.Run(() => _b.AuthenticateAsync(token, CancellationToken.None))));
        Assert.All(results, r => Assert.Equal("many", r?.Project));
    }
}
