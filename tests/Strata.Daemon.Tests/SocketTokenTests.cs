using Strata.Client;
using Strata.Contracts;

namespace Strata.Daemon.Tests;

/// <summary>
/// A token sent over the unix socket is honoured: the request acts with the token's project and role, so whoever
/// tests a token there sees what it may do. Without a token the socket is the host administrator.
/// </summary>
public sealed class SocketTokenTests : IAsyncLifetime
{
    private InProcessDaemon _daemon = null!;
    private StrataClient _admin = null!;

    public async Task InitializeAsync()
    {
        _daemon = await InProcessDaemon.StartAsync(); // no TCP listener: the socket only
        _admin = _daemon.Client();
        await _admin.CreateProjectAsync(new CreateProjectRequest { Name = "s", Restrictions = new ProjectRestrictions { AllowedTiers = ["fake"] } });
    }

    public async Task DisposeAsync()
    {
        _admin.Dispose();
        await _daemon.DisposeAsync();
    }

    private StrataClient Socket(string token) => new(new ClientOptions { Socket = _daemon.Socket, Token = token });

    private static InstanceSpec Sleeper(string name) => new() { Name = name, Tier = "fake", Args = ["sleep"] };

    [Fact]
    public async Task ViewerTokenOverTheSocket_Reads_ButCreateIs403()
    {
        await _admin.CreateAsync(Sleeper("admins"));
        using var viewer = Socket((await _admin.CreateTokenAsync("s", ProjectRoles.Viewer)).Token!);

        var e = await Assert.ThrowsAsync<StrataApiException>(() => viewer.CreateAsync(Sleeper("v")));
        Assert.Equal(403, e.Status);
        Assert.Contains("viewer of project 's'", e.Message, StringComparison.Ordinal);
        // It sees its own project (empty), not the default project the socket's administrator acts in.
        Assert.Empty((await viewer.ListAsync()).Items);
        Assert.Equal(["s"], (await viewer.ListProjectsAsync()).Items.Select(p => p.Name));
        Assert.Equal(403, (await Assert.ThrowsAsync<StrataApiException>(() => viewer.PruneImagesAsync())).Status);
    }

    [Fact]
    public async Task OperatorTokenOverTheSocket_ActsInItsProject_AndOnlyThere()
    {
        using var operatorClient = Socket((await _admin.CreateTokenAsync("s", ProjectRoles.Operator)).Token!);
        var created = await operatorClient.CreateAsync(Sleeper("mine"));
        Assert.Equal("s", created.Project);
        Assert.DoesNotContain((await _admin.ListAsync()).Items, i => i.Name == "mine");
        Assert.Equal("s", (await _daemon.Client("s").GetAsync("mine")).Project);

        // Commit writes the shared image store: refused to a project token with the rule and the alternative.
        var commit = await Assert.ThrowsAsync<StrataApiException>(() => operatorClient.CommitAsync("mine", "busybox"));
        Assert.Equal(403, commit.Status);
        Assert.Contains("only host administrators", commit.Message, StringComparison.Ordinal);
        Assert.Contains("strata snapshot create", commit.Message, StringComparison.Ordinal);

        using var otherProject = new StrataClient(new ClientOptions { Socket = _daemon.Socket, Token = (await _admin.CreateTokenAsync("s", ProjectRoles.Admin)).Token, Project = "default" });
        Assert.Equal(403, (await Assert.ThrowsAsync<StrataApiException>(() => otherProject.ListAsync())).Status);
    }

    [Fact]
    public async Task UnknownOrRevokedTokenOverTheSocket_Is401_NoTokenIsTheAdministrator()
    {
        using var bogus = Socket("strata_000000000000_" + new string('0', 64));
        Assert.Equal(401, (await Assert.ThrowsAsync<StrataApiException>(() => bogus.ListAsync())).Status);

        var token = await _admin.CreateTokenAsync("s", ProjectRoles.Operator);
        using var revoked = Socket(token.Token!);
        await revoked.ListAsync();
        await _admin.RevokeTokenAsync("s", token.Id);
        Assert.Equal(401, (await Assert.ThrowsAsync<StrataApiException>(() => revoked.ListAsync())).Status);

        // No token: the socket's owner, a host administrator, who may do what tokens may not.
        Assert.Contains((await _admin.ListProjectsAsync()).Items, p => p.Name == "default");
        await _admin.PruneImagesAsync();
    }
}
