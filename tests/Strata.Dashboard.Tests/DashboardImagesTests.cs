using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Playwright;
using Strata.Client;
using Strata.Daemon;
using Strata.Images;
using Strata.Images.Registry;
using Strata.Testing;
using static Microsoft.Playwright.Assertions;

namespace Strata.Dashboard.Tests;

/// <summary>
/// An image pulled from the Images page, with the operation's progress on the page: a real registry (Debian's
/// docker-registry) on loopback holding busybox, and a daemon that may reach it over plain HTTP.
/// </summary>
[Collection(DashboardCollection.Name)]
public sealed class DashboardImagesTests(DashboardFixture fx)
{
    [SkippableFact]
    public async Task Pull_FromTheImagesPage_ShowsTheOperationsProgress_AndTheImageArrives()
    {
        fx.RequireBrowser();
        var busybox = Strata.Node.Drivers.Container.OciRuntime.StaticBusybox();
        TestEnvironment.Require(busybox is not null, "busybox-static is not installed (apt-get install busybox-static)");
        using var registry = new RealRegistry();
        using var dir = new TempDirectory("strata-ui-pull");
        var insecure = new RegistryOptions { InsecureRegistries = [registry.Host] };
        var source = new ImageStore(dir.Combine("source"));
        await source.BuildBusyboxBaseAsync(busyboxPath: busybox!);
        var remote = $"{registry.Host}/ui22/busybox:1";
        await source.PushAsync("busybox:latest", remote, insecure);

        var port = DashboardFixture.FreePort();
        await using var daemon = await DaemonHost.StartAsync(new DaemonOptions
        {
            Root = dir.Combine("root"),
            Socket = dir.Combine("s.sock"),
            Listen = new IPEndPoint(IPAddress.Loopback, port),
            EnableFakeTier = true,
            Supervisor = TestEnvironment.Supervisor,
            InsecureRegistries = [registry.Host],
        }, l => l.SetMinimumLevel(LogLevel.Warning));
        var token = File.ReadAllText(dir.Combine("root", "admin.token")).Trim();
        var page = await fx.SignInAsync(token, $"http://127.0.0.1:{port}");
        await page.GetByRole(AriaRole.Link, new() { Name = "Images", Exact = true }).ClickAsync();
        // Every text the progress line shows, in order.
        await page.EvaluateAsync("""
            () => {
              window.pullTexts = [];
              const line = document.getElementById('pull-status');
              new MutationObserver(() => window.pullTexts.push(line.textContent)).observe(line, { childList: true, characterData: true, subtree: true });
            }
            """);
        await page.GetByLabel("Pull image").FillAsync(remote);
        await page.GetByRole(AriaRole.Button, new() { Name = "Pull", Exact = true }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Progressbar, new() { Name = "Pull progress" })).ToBeVisibleAsync();
        await Expect(page.Locator("table.images")).ToContainTextAsync("ui22/busybox", new() { Timeout = 60_000 });
        // The operation's own words, ending in success, and each blob's bytes: the layer came whole and was unpacked.
        await Expect(page.Locator("#pull-status")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex("^succeeded"));
        var texts = await page.EvaluateAsync<string[]>("() => window.pullTexts");
        Assert.StartsWith("succeeded", texts[^1], StringComparison.Ordinal);
        var layer = page.Locator("ul.pull-items li[data-item='layer']");
        await Expect(layer).ToHaveCountAsync(1);
        await Expect(layer).ToHaveAttributeAsync("data-phase", new System.Text.RegularExpressions.Regex("^(done|unpacked)$"));
        await Expect(layer).ToContainTextAsync(new System.Text.RegularExpressions.Regex(@"\d+(\.\d)? [KM]iB of \d"));
        await Expect(page.Locator("ul.pull-items li[data-item='config']")).ToHaveCountAsync(1);
        using var admin = new StrataClient(new ClientOptions { Socket = dir.Combine("s.sock") });
        Assert.Contains((await admin.ListImagesAsync()).Items, i => i.Name.Contains("ui22/busybox", StringComparison.Ordinal));
        await DashboardFixture.ScreenshotAsync(page, "images-pulled");
        await page.Context.CloseAsync();
    }
}
