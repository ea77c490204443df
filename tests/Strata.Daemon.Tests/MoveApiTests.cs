using Strata.Client;
using Strata.Contracts;

namespace Strata.Daemon.Tests;

/// <summary>
/// The move API's refusals, fast (in-process daemon, fake tier): each names the problem before any operation starts,
/// and a second project's token neither finds the instance nor reaches another project's receiving side.
/// The moves themselves run on real QEMU in <c>Strata.Vm.Tests.VmMoveTests</c>.
/// </summary>
public sealed class MoveApiTests : IAsyncLifetime
{
    private InProcessDaemon _daemon = null!;
    private StrataClient _admin = null!;

    public async Task InitializeAsync()
    {
        _daemon = await InProcessDaemon.StartAsync();
        _admin = _daemon.Client();
        await _admin.CreateProjectAsync(new CreateProjectRequest { Name = "m20s", Restrictions = new ProjectRestrictions { AllowedTiers = ["fake"] } });
        await _admin.CreateAsync(new InstanceSpec { Name = "m20-f", Tier = "fake", Args = ["sleep"] });
    }

    public async Task DisposeAsync()
    {
        _admin.Dispose();
        await _daemon.DisposeAsync();
    }

    private static MoveRequest To(string? address = "http://127.0.0.1:9", string? token = "t") => new() { ToAddress = address, ToToken = token };

    [Fact]
    public async Task Move_BadInput_IsRefusedNamingTheFix_AndStartsNoOperation()
    {
        var tier = await Assert.ThrowsAsync<StrataApiException>(() => _admin.MoveAsync("m20-f", To()));
        Assert.Equal(400, tier.Status);
        Assert.Equal("tier", tier.Field);
        Assert.Contains("the fake tier cannot move", tier.Message, StringComparison.Ordinal);
        Assert.Contains("vm and sandbox tiers", tier.Message, StringComparison.Ordinal);
        Assert.Contains("container, wasm, process and sandbox", tier.Message, StringComparison.Ordinal);
        var live = await Assert.ThrowsAsync<StrataApiException>(() => _admin.MoveAsync("m20-f", To() with { Mode = "live" }));
        Assert.Equal("mode", live.Field);
        Assert.Contains("the fake tier cannot move live", live.Message, StringComparison.Ordinal);
        Assert.Equal("mode", (await Assert.ThrowsAsync<StrataApiException>(() => _admin.MoveAsync("m20-f", To() with { Mode = "warm" }))).Field);

        var address = await Assert.ThrowsAsync<StrataApiException>(() => _admin.MoveAsync("m20-f", To(address: null)));
        Assert.Equal("toAddress", address.Field);
        Assert.Contains("--to-address", address.Message, StringComparison.Ordinal);
        Assert.Equal("toAddress", (await Assert.ThrowsAsync<StrataApiException>(() => _admin.MoveAsync("m20-f", To(address: "ftp://x:1")))).Field);
        Assert.Equal("toToken", (await Assert.ThrowsAsync<StrataApiException>(() => _admin.MoveAsync("m20-f", To(token: " ")))).Field);
        Assert.Equal("bandwidth", (await Assert.ThrowsAsync<StrataApiException>(() =>
            _admin.MoveAsync("m20-f", To() with { Bandwidth = "fast" }))).Field);
        Assert.Equal("tier", (await Assert.ThrowsAsync<StrataApiException>(() => _admin.MoveAsync("m20-f", To() with { Mode = "cold" }))).Field);
        Assert.Equal(404, (await Assert.ThrowsAsync<StrataApiException>(() => _admin.MoveAsync("m20-none", To()))).Status);

        Assert.DoesNotContain((await _admin.ListOperationsAsync()).Items, o => o.Kind == "move");
        Assert.Equal("running", (await _admin.GetAsync("m20-f")).State);
    }

    [Fact]
    public async Task SecondProject_NeitherFindsTheInstance_NorReachesAnotherProjectsIncomingMove()
    {
        using var other = new StrataClient(new ClientOptions { Socket = _daemon.Socket, Token = (await _admin.CreateTokenAsync("m20s", ProjectRoles.Operator)).Token });
        var missing = await Assert.ThrowsAsync<StrataApiException>(() => other.MoveAsync("m20-f", To()));
        Assert.Equal(404, missing.Status);
        Assert.Equal((await Assert.ThrowsAsync<StrataApiException>(() => other.MoveAsync("m20-none", To()))).Message.Replace("m20-none", "m20-f", StringComparison.Ordinal), missing.Message);

        // Confirming a move that this project is not receiving is "not found"; discarding one is nothing to do.
        Assert.Equal(404, (await Assert.ThrowsAsync<StrataApiException>(() => other.ConfirmIncomingMoveAsync("m20-f", TimeSpan.FromSeconds(1)))).Status);
        await other.DiscardIncomingMoveAsync("m20-f");
        // Nor can it switch another project's instance in as the end of a cold move.
        Assert.Equal(404, (await Assert.ThrowsAsync<StrataApiException>(() => other.MoveInAsync("m20-f", null, start: true))).Status);
        Assert.Equal("running", (await _admin.GetAsync("m20-f")).State);

        // A tier that cannot receive a live move is refused before anything is made.
        var refused = await Assert.ThrowsAsync<StrataApiException>(() => other.PrepareIncomingMoveAsync("m20-in", new IncomingMoveRequest
        {
            InstanceId = Guid.NewGuid().ToString("N"), Tier = "fake", Spec = new InstanceSpec { Tier = "fake" }, Machine = "{}", ListenHost = "127.0.0.1",
        }));
        Assert.Equal(400, refused.Status);
        Assert.Empty((await other.ListAsync()).Items);
    }
}
