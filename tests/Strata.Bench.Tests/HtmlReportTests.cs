using System.Text.RegularExpressions;
using Strata.Bench.Core;
using Strata.Testing;

namespace Strata.Bench.Tests;

public sealed partial class HtmlReportTests
{
    [Fact]
    public void Render_KnownReport_OneChartPerMeasureWithABarPerMeasuredTarget()
    {
        var html = HtmlReport.Render(SampleReports.Known());

        foreach (var measure in HtmlReport.Measures)
        {
            Assert.Contains($"<svg class=\"chart\" data-measure=\"{measure}\"", html, StringComparison.Ordinal);
        }
        var latency = Chart(html, "start-latency");
        Assert.Equal(["process", "direct", "container", "runc", "podman", "wasm", "sandbox", "qemu"], Bars(latency));
        Assert.Contains("class=\"bar baseline\" data-target=\"podman\"", latency, StringComparison.Ordinal);
        Assert.Equal(["process", "container", "sandbox"], Bars(Chart(html, "cpu-overhead")));
        Assert.Equal(["container"], Bars(Chart(html, "snapshot")));
    }

    [Fact]
    public void Render_KnownReport_IsSelfContained()
    {
        var html = HtmlReport.Render(SampleReports.Known());

        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("src=", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<link", html, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("TCG", html, StringComparison.Ordinal);
    }

    /// <summary>The page as a browser shows it: headless Chromium parses it (the DOM has every chart) and screenshots it.</summary>
    [SkippableFact]
    public void Render_OpenedInHeadlessChromium_ShowsEveryChartAndScreenshots()
    {
        var chromium = TestEnvironment.Which("chromium");
        TestEnvironment.Require(chromium is not null, "chromium is not installed (Debian: chromium; scripts/deps/bench.txt)");
        using var dir = new TempDirectory("strata-bench-html");
        var page = dir.Combine("bench.html");
        File.WriteAllText(page, HtmlReport.Render(SampleReports.Known()));
        var screenshot = dir.Combine("bench.png");

        var dom = Chromium(chromium!, dir, "--dump-dom", "file://" + page);
        Chromium(chromium!, dir, $"--screenshot={screenshot}", "--window-size=1200,2400", "file://" + page);

        foreach (var measure in HtmlReport.Measures)
        {
            Assert.Contains($"data-measure=\"{measure}\"", dom, StringComparison.Ordinal);
        }
        Assert.Equal(HtmlReport.Measures.Count, ChartTag().Matches(dom).Count);
        Assert.Contains("data-target=\"sandbox\"", dom, StringComparison.Ordinal);
        var png = File.ReadAllBytes(screenshot);
        Assert.True(png.Length > 10_000, $"screenshot is only {png.Length} bytes");
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png[..4]);
    }

    private static string Chromium(string chromium, TempDirectory dir, params string[] args)
    {
        var (code, stdout, stderr) = ChildProcess.Run(chromium,
            ["--headless", "--no-sandbox", "--disable-gpu", $"--user-data-dir={dir.Combine("profile")}", .. args], TimeSpan.FromSeconds(120));
        Assert.True(code == 0, $"chromium exited {code}: {stderr}");
        return stdout;
    }

    private static string Chart(string html, string measure)
    {
        var start = html.IndexOf($"data-measure=\"{measure}\"", StringComparison.Ordinal);
        return html[start..html.IndexOf("</svg>", start, StringComparison.Ordinal)];
    }

    private static List<string> Bars(string chart) => [.. BarTarget().Matches(chart).Select(m => m.Groups[1].Value)];

    [GeneratedRegex("<rect class=\"bar [a-z]+\" data-target=\"([a-z]+)\"")]
    private static partial Regex BarTarget();

    [GeneratedRegex("<svg [^>]*class=\"chart\"")]
    private static partial Regex ChartTag();
}
