using System.Net;
using Strata.Client;
using Strata.Contracts;
using Strata.Node.Networking;
using Strata.Testing;

namespace Strata.Daemon.Tests;

/// <summary>
/// What a tenant learns about other projects through networks and the event stream, from a second project's
/// token over TCP: network names are per project, another project's subnet never shows, the default network is
/// as missing as any foreign object, and event ids count only the subscriber's own events. Networks here are only
/// recorded (nothing is attached), so no bridge is made; their names carry a per-run prefix all the same.
/// </summary>
public sealed class TenantNetworkAndEventTests : IAsyncLifetime
{
    private static readonly ProjectRestrictions FakeOnly = new() { AllowedTiers = ["fake"] };

    private readonly string _tag = "stt" + Guid.NewGuid().ToString("N")[..4];
    private InProcessDaemon _daemon = null!;
    private StrataClient _admin = null!;
    private int _port;

    public async Task InitializeAsync()
    {
        _port = NetworkCensus.FreePort();
        _daemon = await InProcessDaemon.StartAsync(o => o with
        {
            Listen = new IPEndPoint(IPAddress.Loopback, _port),
            Networks = new NetworkOptions
            {
                StateDirectory = Path.Combine(o.Root, "networks"),
                BridgePrefix = _tag,
                NamespacePrefix = _tag + "-",
                DefaultSubnet = "10.241.0.0/24",
                SubnetPool = "10.242.0.0/16",
            },
        });
        _admin = _daemon.Client();
        await _admin.CreateProjectAsync(new CreateProjectRequest { Name = "a", Restrictions = FakeOnly });
        await _admin.CreateProjectAsync(new CreateProjectRequest { Name = "b", Restrictions = FakeOnly });
    }

    public async Task DisposeAsync()
    {
        _admin.Dispose();
        await _daemon.DisposeAsync();
    }

    private async Task<StrataClient> OperatorAsync(string project) =>
        new(new ClientOptions { Host = new Uri($"http://127.0.0.1:{_port}"), Token = (await _admin.CreateTokenAsync(project, ProjectRoles.Operator)).Token });

    [Fact]
    public async Task NetworkNames_ArePerProject_AndOverlapsNeverRevealAnotherProjectsSubnet()
    {
        using var a = await OperatorAsync("a");
        using var b = await OperatorAsync("b");
        var theirs = await b.CreateNetworkAsync(new CreateNetworkRequest { Name = "backend", Subnet = "10.243.5.0/24" });

        // The same name in A is A's own network: not "exists already" while GET says 404.
        Assert.Equal(404, (await Assert.ThrowsAsync<StrataApiException>(() => a.InspectNetworkAsync("backend"))).Status);
        var ours = await a.CreateNetworkAsync(new CreateNetworkRequest { Name = "backend" });
        Assert.Equal("a", ours.Project);
        Assert.NotEqual(theirs.Subnet, ours.Subnet);
        Assert.NotEqual(theirs.Bridge, ours.Bridge);
        Assert.Equal(ours.Subnet, (await a.InspectNetworkAsync("backend")).Subnet);
        Assert.Equal(["backend"], (await a.ListNetworksAsync()).Items.Select(n => n.Name));
        Assert.Equal(409, (await Assert.ThrowsAsync<StrataApiException>(() => a.CreateNetworkAsync(new CreateNetworkRequest { Name = "backend" }))).Status);

        // An overlap with B's subnet is refused without saying which subnet (or whose) it hit...
        var foreign = await Assert.ThrowsAsync<StrataApiException>(() => a.CreateNetworkAsync(new CreateNetworkRequest { Name = "probe", Subnet = "10.243.5.128/25" }));
        Assert.Equal(409, foreign.Status);
        Assert.DoesNotContain(theirs.Subnet, foreign.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("'b'", foreign.Message, StringComparison.Ordinal);
        Assert.Contains("choose another --subnet", foreign.Message, StringComparison.Ordinal);
        // ... while an overlap with A's own network names it, and a host administrator is told everything.
        var own = await Assert.ThrowsAsync<StrataApiException>(() => a.CreateNetworkAsync(new CreateNetworkRequest { Name = "probe", Subnet = ours.Subnet }));
        Assert.Contains("network 'backend'", own.Message, StringComparison.Ordinal);
        using var adminInA = _daemon.Client("a");
        var told = await Assert.ThrowsAsync<StrataApiException>(() => adminInA.CreateNetworkAsync(new CreateNetworkRequest { Name = "probe", Subnet = "10.243.5.0/26" }));
        Assert.Contains($"{theirs.Subnet}, used by network 'backend' of project 'b'", told.Message, StringComparison.Ordinal);

        // B's network is untouched by all of it.
        var still = await b.InspectNetworkAsync("backend");
        Assert.Equal(theirs.Subnet, still.Subnet);
        Assert.Equal("b", still.Project);
        await a.RemoveNetworkAsync("backend");
        Assert.Equal(theirs.Bridge, (await b.InspectNetworkAsync("backend")).Bridge);
        Assert.Empty((await a.ListNetworksAsync()).Items);
    }

    [Fact]
    public async Task DefaultNetwork_IsNotFound_ForATenant_LikeAnyForeignObject()
    {
        using var a = await OperatorAsync("a");
        var missing = await Assert.ThrowsAsync<StrataApiException>(() => a.RemoveNetworkAsync("nosuch"));
        foreach (var call in new Func<Task>[] { () => a.RemoveNetworkAsync("strata0"), () => a.InspectNetworkAsync("strata0") })
        {
            var e = await Assert.ThrowsAsync<StrataApiException>(call);
            Assert.Equal(404, e.Status);
            Assert.Equal(missing.Message.Replace("nosuch", "strata0", StringComparison.Ordinal), e.Message);
        }
        Assert.Contains((await _admin.ListNetworksAsync()).Items, n => n.Default && n.Name == "strata0");
    }

    [Fact]
    public async Task AllowHost_IsForHostAdministrators_AndShows()
    {
        using var a = await OperatorAsync("a");
        var refused = await Assert.ThrowsAsync<StrataApiException>(() => a.CreateNetworkAsync(new CreateNetworkRequest { Name = "open", AllowHost = true }));
        Assert.Equal(403, refused.Status);
        Assert.Contains("host administrators", refused.Message, StringComparison.Ordinal);
        Assert.Empty((await a.ListNetworksAsync()).Items); // nothing half-made

        Assert.False((await a.CreateNetworkAsync(new CreateNetworkRequest { Name = "closed" })).HostAccess);
        using var adminInA = _daemon.Client("a");
        Assert.True((await adminInA.CreateNetworkAsync(new CreateNetworkRequest { Name = "open", AllowHost = true })).HostAccess);
        Assert.True((await _admin.CreateNetworkAsync(new CreateNetworkRequest { Name = "mine" })).HostAccess); // the default project's
    }

    [Fact]
    public async Task EventIds_CountOnlyTheSubscribersOwnEvents()
    {
        using var a = await OperatorAsync("a");
        using var b = await OperatorAsync("b");
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        using var aHttp = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{_port}/") };
        aHttp.DefaultRequestHeaders.Authorization = new("Bearer", (await _admin.CreateTokenAsync("a", ProjectRoles.Viewer)).Token);
        using var adminHttp = _daemon.Http();
        // Both subscriptions are live once their response headers arrive (the daemon subscribes before it answers).
        var seenByA = await EventStream.OpenAsync(aHttp, cts.Token);
        var seenByAdmin = await EventStream.OpenAsync(adminHttp, cts.Token);

        await a.CreateAsync(new InstanceSpec { Name = "first", Tier = "fake", Args = ["sleep"] });
        for (var i = 0; i < 3; i++)
        {
            await b.CreateAsync(new InstanceSpec { Name = $"b{i}", Tier = "fake", Args = ["sleep"] });
        }
        await b.DeleteAsync("b0", force: true);
        await a.DeleteAsync("first", force: true);
        Assert.True(await TestEnvironment.EventuallyAsync(() => seenByA.Last?.Type == "deleted", TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(20)));
        Assert.True(await TestEnvironment.EventuallyAsync(() => seenByAdmin.Last is { Type: "deleted", Instance: "first" }, TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(20)));
        await cts.CancelAsync();
        var mine = await seenByA.CloseAsync();
        var all = await seenByAdmin.CloseAsync();

        // A sees its own events only, numbered 1, 2, 3 ... (the SSE id and the event's sequence alike), with no gap
        // where B's events happened.
        Assert.True(mine.Count >= 3, string.Join(", ", mine.Select(e => e.Event.Type)));
        Assert.All(mine, e => Assert.Equal("a", e.Event.Project));
        Assert.Equal(Enumerable.Range(1, mine.Count).Select(n => (long)n), mine.Select(e => e.Id));
        Assert.Equal(mine.Select(e => e.Id), mine.Select(e => e.Event.Sequence));
        // The host administrator sees every project's, by a sequence of its own subscription.
        Assert.Contains(all, e => e.Event.Project == "b");
        Assert.Equal(Enumerable.Range(1, all.Count).Select(n => (long)n), all.Select(e => e.Id));
        Assert.True(all.Count > mine.Count);
    }
}
