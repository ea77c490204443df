using Microsoft.Playwright;
using Strata.Bench.Core.Planning;
using Strata.Testing;

namespace Strata.Bench.Tests;

/// <summary>The plan's HTML report in a real browser: Debian's Chromium through Playwright (never downloaded).</summary>
public sealed class PlanBrowserTests
{
    [SkippableFact]
    public async Task Report_OpenedInChromium_DrawsEveryChartWithItsBarsAndShowsTheNumbers()
    {
        var chromium = new[] { "/usr/lib/chromium/chromium", "/usr/bin/chromium" }.FirstOrDefault(File.Exists);
        TestEnvironment.Require(chromium is not null, "Chromium is not installed (apt-get install chromium; scripts/deps/bench.txt)");
        var report = CapacityPlanner.Plan(PlanTests.Request(
            [.. Enumerable.Range(0, 10).Select(i => PlanTests.Workload($"w{i}", 0.5, 1L << 30, i < 2 ? "vm" : "container"))],
            4, 8L << 30, PlanInputs.Costs(SampleReports.Known())));
        using var dir = new TempDirectory("rs21plan-html");
        var path = dir.Combine("plan.html");
        await File.WriteAllTextAsync(path, PlanTables.Html(report));

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = chromium, Headless = true, Args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1200, Height = 900 } });
        await page.GotoAsync("file://" + path);

        foreach (var measure in PlanTables.Measures)
        {
            var chart = page.Locator($"svg.chart[data-measure=\"{measure}\"]");
            var box = await chart.BoundingBoxAsync();
            Assert.True(box is { Width: > 300, Height: > 50 }, $"chart {measure} is not drawn: {box?.Width}×{box?.Height}");
            var bars = chart.Locator("rect.bar");
            Assert.Equal(CapacityPlanner.ModelIds.Count, await bars.CountAsync());
            for (var i = 0; i < CapacityPlanner.ModelIds.Count; i++)
            {
                var bar = await bars.Nth(i).BoundingBoxAsync();
                Assert.True(bar is { Width: >= 2, Height: > 10 }, $"bar {i} of {measure} has no size");
            }
        }
        // Bars are proportional: physical needs 10 hosts, containers 2, so its bar is five times as long.
        var hosts = page.Locator("svg.chart[data-measure=\"hosts\"] rect.bar");
        var physical = (await hosts.Nth(0).BoundingBoxAsync())!.Width;
        var containers = (await page.Locator("svg.chart[data-measure=\"hosts\"] rect.bar[data-target=\"containers\"]").BoundingBoxAsync())!.Width;
        Assert.Equal(5, physical / containers, 1);
        // The numbers render as text a reader sees: the host counts in the table, the sources of the figures.
        var table = await page.Locator("table.models").InnerTextAsync();
        Assert.Contains("a physical host each\t10", table, StringComparison.Ordinal);
        Assert.Contains("containers\t2", table, StringComparison.Ordinal);
        var figures = await page.Locator("table.figures").InnerTextAsync();
        Assert.Contains("measured", figures, StringComparison.Ordinal);
        Assert.Contains("under TCG", figures, StringComparison.Ordinal);
        var screenshot = await page.ScreenshotAsync(new PageScreenshotOptions { FullPage = true });
        Assert.True(screenshot.Length > 20_000, $"screenshot is only {screenshot.Length} bytes");
    }
}
