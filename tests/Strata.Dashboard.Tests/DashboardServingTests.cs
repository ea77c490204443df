using System.Net;
using System.Net.WebSockets;
using System.Text.Json;

namespace Strata.Dashboard.Tests;

/// <summary>/ui over HTTP: served without a token (it holds no data), the API behind it with the usual authorisation,
/// and the WebSocket token cookie accepted only from the daemon's own origin.</summary>
[Collection(DashboardCollection.Name)]
public sealed class DashboardServingTests(DashboardFixture fx)
{
    [Fact]
    public async Task Ui_IsServedWithoutToken_WithASecurityPolicy_WhileTheApiStillNeedsOne()
    {
        using var http = new HttpClient { BaseAddress = new Uri(fx.BaseUrl) };
        using var redirect = await new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = new Uri(fx.BaseUrl) }.GetAsync("/ui");
        Assert.Equal(HttpStatusCode.Redirect, redirect.StatusCode);
        Assert.Equal("/ui/", redirect.Headers.Location?.OriginalString);

        using var index = await http.GetAsync("/ui/");
        Assert.Equal(HttpStatusCode.OK, index.StatusCode);
        Assert.Equal("text/html", index.Content.Headers.ContentType?.MediaType);
        Assert.Contains("default-src 'self'", index.Headers.GetValues("Content-Security-Policy").Single());
        Assert.Contains("app.js", await index.Content.ReadAsStringAsync());

        using var script = await http.GetAsync("/ui/app.js");
        Assert.Equal("text/javascript", script.Content.Headers.ContentType?.MediaType);
        Assert.True((await script.Content.ReadAsByteArrayAsync()).Length > 10_000);
        using var again = new HttpRequestMessage(HttpMethod.Get, "/ui/app.js");
        again.Headers.TryAddWithoutValidation("If-None-Match", script.Headers.ETag!.Tag);
        Assert.Equal(HttpStatusCode.NotModified, (await http.SendAsync(again)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/ui/nope.js")).StatusCode);

        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/v1/instances")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/v1/info/caller")).StatusCode);
    }

    [Theory]
    [InlineData("viewer", "a", "viewer", false)]
    [InlineData("operatorB", "b", "operator", false)]
    [InlineData("admin", "default", "admin", true)]
    public async Task InfoCaller_SaysWhoTheTokenIs(string who, string project, string role, bool hostAdmin)
    {
        var token = who switch { "viewer" => fx.ViewerA, "operatorB" => fx.OperatorB, _ => fx.AdminToken };
        using var http = new HttpClient { BaseAddress = new Uri(fx.BaseUrl) };
        http.DefaultRequestHeaders.Authorization = new("Bearer", token);
        using var doc = JsonDocument.Parse(await http.GetStringAsync("/v1/info/caller"));
        Assert.Equal(project, doc.RootElement.GetProperty("project").GetString());
        Assert.Equal(role, doc.RootElement.GetProperty("role").GetString());
        Assert.Equal(hostAdmin, doc.RootElement.GetProperty("hostAdmin").GetBoolean());
    }

    [Fact]
    public async Task TokenCookie_AuthenticatesAWebSocketFromTheDaemonsOwnOrigin_Only()
    {
        var url = new Uri($"ws://127.0.0.1:{fx.Port}/v1/instances/no-such/exec/attach?cmd=sh");
        // Same origin: the cookie is the token, so the request gets as far as the instance (404: there is none).
        Assert.Equal(HttpStatusCode.NotFound, await UpgradeAsync(url, fx.BaseUrl, fx.OperatorA));
        // Another site's page: the cookie is not a token there.
        Assert.Equal(HttpStatusCode.Unauthorized, await UpgradeAsync(url, "http://evil.example", fx.OperatorA));
        Assert.Equal(HttpStatusCode.Unauthorized, await UpgradeAsync(url, null, fx.OperatorA));
        // The cookie never stands in for the header on plain requests.
        using var http = new HttpClient { BaseAddress = new Uri(fx.BaseUrl) };
        using var plain = new HttpRequestMessage(HttpMethod.Get, "/v1/instances");
        plain.Headers.Add("Cookie", $"strata-token={fx.OperatorA}");
        plain.Headers.Add("Origin", fx.BaseUrl);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(plain)).StatusCode);
        // A viewer's cookie is a viewer: a shell or a console is an operator's.
        Assert.Equal(HttpStatusCode.Forbidden, await UpgradeAsync(url, fx.BaseUrl, fx.ViewerA));
        Assert.Equal(HttpStatusCode.Forbidden, await UpgradeAsync(new Uri($"ws://127.0.0.1:{fx.Port}/v1/instances/no-such/console"), fx.BaseUrl, fx.ViewerA));
        Assert.Equal(HttpStatusCode.NotFound, await UpgradeAsync(new Uri($"ws://127.0.0.1:{fx.Port}/v1/instances/no-such/console"), fx.BaseUrl, fx.OperatorA));
    }

    private static async Task<HttpStatusCode> UpgradeAsync(Uri url, string? origin, string token)
    {
        using var ws = new ClientWebSocket();
        ws.Options.CollectHttpResponseDetails = true;
        ws.Options.SetRequestHeader("Cookie", $"strata-token={token}");
        if (origin is not null)
        {
            ws.Options.SetRequestHeader("Origin", origin);
        }
        try
        {
            await ws.ConnectAsync(url, CancellationToken.None);
            return ws.HttpStatusCode;
        }
        catch (WebSocketException)
        {
            return ws.HttpStatusCode;
        }
    }
}
