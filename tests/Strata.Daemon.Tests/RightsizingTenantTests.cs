using Strata.Client;
using Strata.Contracts;

namespace Strata.Daemon.Tests;

/// <summary>
/// Right-sizing through a real daemon with a TCP listener and two projects' tokens: each project sees its own
/// instances' histories, recommendations and /metrics series only, and another project's instance of the same name
/// is "not found" for reading, charting and applying. Rounds are driven by the test (sampling interval 0).
/// </summary>
public sealed class RightsizingTenantTests : IAsyncLifetime
{
    private const long Mib = 1024 * 1024;
    private static readonly ProjectRestrictions FakeOnly = new() { AllowedTiers = ["fake"] };
    private InProcessDaemon _daemon = null!;
    private StrataClient _admin = null!;

    public async Task InitializeAsync()
    {
        _daemon = await InProcessDaemon.StartWithTcpAsync(o => o with { UsageIntervalSeconds = 0 });
        _admin = _daemon.Client();
    }

    public async Task DisposeAsync()
    {
        _admin.Dispose();
        await _daemon.DisposeAsync();
    }

    private static InstanceSpec User(string name, int memoryMib) => new()
    {
        Name = name,
        Tier = "fake",
        Args = ["use", memoryMib.ToString(System.Globalization.CultureInfo.InvariantCulture), "0.25"],
        Resources = new ResourceSpec { MemoryBytes = 1024 * Mib, Cpus = 2 },
    };

    [Fact]
    public async Task SecondProjectsToken_SeesAndTouchesNoOtherProjectsHistory()
    {
        await _admin.CreateProjectAsync(new CreateProjectRequest { Name = "r21a", Restrictions = FakeOnly });
        await _admin.CreateProjectAsync(new CreateProjectRequest { Name = "r21b", Restrictions = FakeOnly });
        using var a = _daemon.Tcp((await _admin.CreateTokenAsync("r21a", ProjectRoles.Operator)).Token!);
        using var b = _daemon.Tcp((await _admin.CreateTokenAsync("r21b", ProjectRoles.Operator)).Token!);
        using var bViewer = _daemon.Tcp((await _admin.CreateTokenAsync("r21b", ProjectRoles.Viewer)).Token!);
        await b.CreateAsync(User("r21web", 300));
        await b.CreateAsync(User("r21db", 500));
        await _daemon.SampleUsageAsync(4);

        // Project b sees its own two, with their own numbers.
        var mine = (await b.RecommendationsAsync()).Recommendations;
        Assert.Equal(["r21db", "r21web"], mine.Select(r => r.Name));
        Assert.All(mine, r => Assert.Equal("r21b", r.Project));
        Assert.Equal(300 * Mib, (await b.RecommendationAsync("r21web")).ObservedMemoryPeak, 0.01 * Mib);
        Assert.Equal(3, (await b.UsageHistoryAsync("r21web")).Points.Count);
        Assert.Contains("strata_instance_memory_working_set_bytes{name=\"r21web\",project=\"r21b\"", await b.GetTextAsync("metrics"), StringComparison.Ordinal);
        // A viewer reads but does not apply.
        Assert.Single((await bViewer.RecommendationsAsync(["r21web"])).Recommendations);
        Assert.Equal(403, (await Assert.ThrowsAsync<StrataApiException>(() => bViewer.ApplyRecommendationAsync("r21web"))).Status);

        // Project a sees none of it: empty lists, 404 worded like a missing instance, no series.
        Assert.Empty((await a.RecommendationsAsync()).Recommendations);
        foreach (var call in new Func<Task>[]
        {
            () => a.RecommendationAsync("r21web"),
            () => a.RecommendationsAsync(["r21web"]),
            () => a.UsageHistoryAsync("r21web"),
            () => a.ApplyRecommendationAsync("r21web"),
        })
        {
            var e = await Assert.ThrowsAsync<StrataApiException>(call);
            Assert.Equal(404, e.Status);
            Assert.Contains("no instance named 'r21web'", e.Message, StringComparison.Ordinal);
        }
        var metrics = await a.GetTextAsync("metrics");
        Assert.DoesNotContain("r21web", metrics, StringComparison.Ordinal);
        Assert.DoesNotContain("r21b", metrics, StringComparison.Ordinal);
        Assert.DoesNotContain("strata_http_request_duration_seconds", metrics, StringComparison.Ordinal);

        // Its own instance of the same name has its own history; b's is untouched.
        await a.CreateAsync(User("r21web", 100));
        await _daemon.SampleUsageAsync(3);
        Assert.Equal(100 * Mib, (await a.RecommendationAsync("r21web")).ObservedMemoryPeak, 0.01 * Mib);
        Assert.Equal(300 * Mib, (await b.RecommendationAsync("r21web")).ObservedMemoryPeak, 0.01 * Mib);
        Assert.Equal(1024 * Mib, (await b.RecommendationAsync("r21web")).Current.MemoryBytes);

        // The host administrator's /metrics has every project's series.
        var all = await _admin.GetTextAsync("metrics");
        Assert.Contains("project=\"r21a\"", all, StringComparison.Ordinal);
        Assert.Contains("project=\"r21b\"", all, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SecondProjectsToken_CannotReadOrChangeAnotherProjectsRightsizeSetting()
    {
        await _admin.CreateProjectAsync(new CreateProjectRequest { Name = "r21c", Restrictions = FakeOnly });
        await _admin.CreateProjectAsync(new CreateProjectRequest { Name = "r21d", Restrictions = FakeOnly });
        using var cAdmin = _daemon.Tcp((await _admin.CreateTokenAsync("r21c", ProjectRoles.Admin)).Token!);
        using var cOperator = _daemon.Tcp((await _admin.CreateTokenAsync("r21c", ProjectRoles.Operator)).Token!);
        using var d = _daemon.Tcp((await _admin.CreateTokenAsync("r21d", ProjectRoles.Admin)).Token!);
        await cOperator.CreateAsync(User("r21set", 100) with { Rightsize = "auto" });

        // Project c's own: the operator changes its instance's mode, its admin the project's default; inspect shows both.
        Assert.Equal(("recommend", "instance"), ((await cOperator.SetRightsizeAsync("r21set", "recommend")).Mode, "instance"));
        Assert.Equal("auto", (await cAdmin.SetProjectRightsizeAsync("r21c", "auto")).Rightsize);
        Assert.Equal(403, (await Assert.ThrowsAsync<StrataApiException>(() => cOperator.SetProjectRightsizeAsync("r21c", "off"))).Status);
        var status = (await cOperator.SetRightsizeAsync("r21set", null));
        Assert.Equal(("auto", "project"), (status.Mode, status.Source));
        Assert.Equal(("auto", "project"), ((await cOperator.GetAsync("r21set")).Rightsize!.Mode, (await cOperator.GetAsync("r21set")).Rightsize!.Source));
        var bad = await Assert.ThrowsAsync<StrataApiException>(() => cOperator.SetRightsizeAsync("r21set", "sometimes"));
        Assert.Equal(400, bad.Status);
        Assert.Contains("off, recommend or auto", bad.Message, StringComparison.Ordinal);

        // Project d's admin reads and changes none of it: 404 worded like a missing instance or project.
        foreach (var call in new Func<Task>[]
        {
            () => d.SetRightsizeAsync("r21set", "off"),
            () => d.GetAsync("r21set"),
            () => d.RecommendationAsync("r21set"),
            () => d.ApplyRecommendationAsync("r21set"),
        })
        {
            var e = await Assert.ThrowsAsync<StrataApiException>(call);
            Assert.Equal(404, e.Status);
            Assert.Contains("no instance named 'r21set'", e.Message, StringComparison.Ordinal);
        }
        var project = await Assert.ThrowsAsync<StrataApiException>(() => d.SetProjectRightsizeAsync("r21c", "off"));
        Assert.Equal(404, project.Status);
        Assert.Equal(404, (await Assert.ThrowsAsync<StrataApiException>(() => d.GetProjectAsync("r21c"))).Status);

        // Nothing changed: c's default and its instance's (absent) own mode.
        Assert.Equal("auto", (await _admin.GetProjectAsync("r21c")).Rightsize);
        Assert.Null((await cOperator.GetAsync("r21set")).Spec.Rightsize);
        // d's own project default is its own to set.
        Assert.Equal("off", (await d.SetProjectRightsizeAsync("r21d", "off")).Rightsize);
        Assert.Equal("auto", (await _admin.GetProjectAsync("r21c")).Rightsize);
    }

    [Fact]
    public async Task Histories_SurviveADaemonRestart()
    {
        await _admin.CreateAsync(User("r21keep", 200));
        await _daemon.SampleUsageAsync(4);
        var before = await _admin.RecommendationAsync("r21keep");
        await _daemon.RestartAsync(); // the fake workload is lost with the daemon; its instance record and history stay
        var after = (await _daemon.Client().RecommendationsAsync()).Recommendations.Single(r => r.Name == "r21keep");
        Assert.Equal(before.Samples, after.Samples);
        Assert.Equal(before.ObservedMemoryPeak, after.ObservedMemoryPeak);
    }
}
