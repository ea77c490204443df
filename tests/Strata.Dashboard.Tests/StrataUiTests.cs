using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Microsoft.Playwright;
using Strata.Testing;
using static Microsoft.Playwright.Assertions;

namespace Strata.Dashboard.Tests;

/// <summary><c>strata ui</c>: the published CLI serves the dashboard on 127.0.0.1 over the unix socket, behind a key.</summary>
[Collection(DashboardCollection.Name)]
public sealed class StrataUiTests(DashboardFixture fx)
{
    [SkippableFact]
    public async Task StrataUi_PrintsAKeyedUrl_ServesTheDashboardAsHostAdmin_AndRefusesRequestsWithoutTheKey()
    {
        fx.RequireBrowser();
        var strata = TestEnvironment.RequireArtifact("strata");
        var port = DashboardFixture.FreePort();
        using var ui = Process.Start(new ProcessStartInfo(strata, ["ui", "--socket", fx.Socket, "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture)])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        try
        {
            var url = await ui.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.NotNull(url);
            Assert.StartsWith($"http://127.0.0.1:{port}/ui/#token=", url);
            var key = url[(url.IndexOf("#token=", StringComparison.Ordinal) + 7)..];

            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/ui/")).StatusCode);
            Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/v1/instances")).StatusCode);
            using (var wrong = new HttpRequestMessage(HttpMethod.Get, "/v1/info/caller"))
            {
                wrong.Headers.Authorization = new("Bearer", fx.AdminToken); // the daemon's token is not the key
                Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(wrong)).StatusCode);
            }
            http.DefaultRequestHeaders.Authorization = new("Bearer", key);
            using (var doc = JsonDocument.Parse(await http.GetStringAsync("/v1/info/caller")))
            {
                Assert.True(doc.RootElement.GetProperty("hostAdmin").GetBoolean());
            }
            // Several requests on one connection are each checked.
            for (var i = 0; i < 3; i++)
            {
                Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/v1/info")).StatusCode);
            }

            var context = await fx.Browser!.NewContextAsync();
            var page = await context.NewPageAsync();
            await page.GotoAsync(url);
            await Expect(page.Locator("[data-role='host-admin']")).ToBeVisibleAsync();
            Assert.DoesNotContain("token=", page.Url);
            await page.GetByRole(AriaRole.Link, new() { Name = "Instances", Exact = true }).ClickAsync();
            await Expect(page.Locator("#instances-count")).ToContainTextAsync("instances");
            await context.CloseAsync();
        }
        finally
        {
            ui.Kill();
            await ui.WaitForExitAsync();
        }
    }
}
