using System.Net;
using System.Text.Json;
using Strata.Client;
using Strata.Contracts;

namespace Strata.Daemon.Tests;

/// <summary>
/// <c>GET /v1/instances</c> writes each instance's JSON once per change (docs/api.md, "Listing instances"): the list
/// must stay byte for byte what serialising it whole gives, show every change at once, and stay within the project.
/// </summary>
public sealed class InstanceListTests : IAsyncLifetime
{
    private InProcessDaemon _daemon = null!;
    private StrataClient _admin = null!;

    public async Task InitializeAsync()
    {
        _daemon = await InProcessDaemon.StartWithTcpAsync();
        _admin = _daemon.Client();
    }

    public async Task DisposeAsync()
    {
        _admin.Dispose();
        await _daemon.DisposeAsync();
    }

    private static InstanceSpec Sleeper(string name) => new() { Name = name, Tier = "fake", Args = ["sleep"] };

    private async Task<(byte[] Body, HttpResponseMessage Response)> RawListAsync()
    {
        using var http = _daemon.Http();
        var response = await http.GetAsync("v1/instances");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadAsByteArrayAsync(), response);
    }

    [Fact]
    public async Task List_IsByteForByteTheWholeListSerialised_WithItsLength()
    {
        await _admin.CreateAsync(Sleeper("one"));
        await _admin.CreateAsync(Sleeper("two"), start: false);
        await _admin.CreateAsync(Sleeper("three"));
        await _admin.StopAsync("three", timeoutSeconds: 1);

        var (body, response) = await RawListAsync();
        var expected = new List<InstanceInfo>();
        foreach (var name in new[] { "one", "two", "three" })
        {
            expected.Add((await _admin.GetAsync(name)) with { Rightsize = null }); // inspect alone carries the right-sizing status
        }
        Assert.Equal(JsonSerializer.SerializeToUtf8Bytes(new InstanceList(expected), StrataJsonContext.Default.InstanceList), body);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(body.Length, response.Content.Headers.ContentLength);
        var parsed = JsonSerializer.Deserialize(body, StrataJsonContext.Default.InstanceList)!;
        Assert.Equal(["one", "two", "three"], parsed.Items.Select(i => i.Name));
        Assert.Equal(["running", "created", "stopped"], parsed.Items.Select(i => i.State));
        Assert.All(parsed.Items, i => Assert.NotNull(i.Placement)); // the list keeps inspect's shape, placement included
    }

    [Fact]
    public async Task List_ShowsEveryChange_AfterItWasListed()
    {
        await _admin.CreateAsync(Sleeper("web"), start: false);
        Assert.Equal("created", Assert.Single((await _admin.ListAsync()).Items).State);

        await _admin.StartAsync("web");
        var running = Assert.Single((await _admin.ListAsync()).Items);
        Assert.Equal("running", running.State);
        Assert.NotNull(running.StartedAt);

        await _admin.StopAsync("web", timeoutSeconds: 1);
        Assert.Equal("stopped", Assert.Single((await _admin.ListAsync()).Items).State);

        await _admin.DeleteAsync("web");
        Assert.Empty((await _admin.ListAsync()).Items);
        var (body, _) = await RawListAsync();
        Assert.Equal("{\"items\":[]}", System.Text.Encoding.UTF8.GetString(body));

        await _admin.CreateAsync(Sleeper("web"), start: false); // same name, new instance: never the old one's JSON
        var again = Assert.Single((await _admin.ListAsync()).Items);
        Assert.Equal("created", again.State);
        Assert.Null(again.StartedAt);
    }

    [Fact]
    public async Task List_FromASecondProjectsToken_ShowsOnlyItsOwn()
    {
        var restrictions = new ProjectRestrictions { AllowedTiers = ["fake"] };
        await _admin.CreateProjectAsync(new CreateProjectRequest { Name = "a", Restrictions = restrictions });
        await _admin.CreateProjectAsync(new CreateProjectRequest { Name = "b", Restrictions = restrictions });
        using var a = _daemon.Tcp((await _admin.CreateTokenAsync("a", ProjectRoles.Operator)).Token!);
        using var b = _daemon.Tcp((await _admin.CreateTokenAsync("b", ProjectRoles.Operator)).Token!);
        await a.CreateAsync(Sleeper("web"));
        await a.CreateAsync(Sleeper("db"), start: false);
        Assert.Equal(2, (await a.ListAsync()).Items.Count); // listed once: their JSON is now kept

        Assert.Empty((await b.ListAsync()).Items);
        await b.CreateAsync(Sleeper("web"), start: false);
        var own = Assert.Single((await b.ListAsync()).Items);
        Assert.Equal(("b", "created"), (own.Project, own.State));
        Assert.All((await a.ListAsync()).Items, i => Assert.Equal("a", i.Project));
        Assert.Equal("running", (await a.GetAsync("web")).State);
    }
}
