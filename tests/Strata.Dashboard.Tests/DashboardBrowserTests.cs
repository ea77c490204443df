using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Strata.Client;
using Strata.Contracts;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace Strata.Dashboard.Tests;

/// <summary>The dashboard in a real browser (Debian's Chromium through Playwright) against a real daemon.</summary>
[Collection(DashboardCollection.Name)]
public sealed class DashboardBrowserTests(DashboardFixture fx, ITestOutputHelper output)
{
    private static InstanceSpec Sleeper(string name) => new() { Name = name, Tier = "fake", Args = ["sleep"] };

    [SkippableFact]
    public async Task Operator_CreatesBusyboxFromTheForm_AdvisorPreviewFollowsTrust_SeesItRunning_AndTypesInItsShell()
    {
        fx.RequireBrowser();
        fx.RequireContainer();
        var page = await fx.SignInAsync(fx.OperatorA);
        await page.GetByRole(AriaRole.Link, new() { Name = "Create" }).ClickAsync();
        await page.GetByLabel("Name", new() { Exact = true }).FillAsync("shell-box");
        await page.GetByLabel("Image").FillAsync("busybox");
        await page.GetByLabel("Command").FillAsync("sleep 3600");

        var verdict = page.Locator("#advice .verdict");
        await Expect(verdict).ToHaveAttributeAsync("data-tier", "container");
        await Expect(verdict).ToContainTextAsync("This runs as container because");
        await Expect(page.Locator("#advice table.runners")).ToBeVisibleAsync();
        // The runners-up carry this host's measured costs (the fixture's stored bench report).
        await Expect(page.Locator("#advice table.runners tr[data-tier='sandbox']")).ToContainTextAsync("632 ms (measured on this host, template)");
        await Expect(page.Locator("#advice table.runners tr[data-tier='vm']")).ToContainTextAsync("measured on this host");

        await page.GetByLabel("Trust").SelectOptionAsync("untrusted");
        await Expect(page.Locator("#advice")).ToContainTextAsync(new Regex("This runs as sandbox because|Ideal tier sandbox"));
        await Expect(page.Locator("#advice")).ToContainTextAsync("R8");
        await FixtureShot(page, "create");
        await page.GetByLabel("Trust").SelectOptionAsync("trusted");
        await Expect(verdict).ToHaveAttributeAsync("data-tier", "container");

        await page.GetByRole(AriaRole.Button, new() { Name = "Create", Exact = true }).ClickAsync();
        // The create returns once the container started: as long as the running state may take below.
        await page.WaitForURLAsync(new Regex("#/instance/shell-box$"), new() { Timeout = 60_000 });
        // Created, then running: the detail page follows the event stream; nothing reloads it.
        await Expect(page.Locator("#state")).ToHaveTextAsync("running", new() { Timeout = 60_000 });
        await Expect(page.Locator("section.advice")).ToContainTextAsync("container");

        // "Shell open." is said once the shell has printed its prompt; keys typed before that would be kept anyway.
        await page.GetByRole(AriaRole.Button, new() { Name = "Open shell" }).ClickAsync();
        await Expect(page.Locator("p.status", new() { HasText = "Shell open." })).ToBeVisibleAsync();
        var terminal = page.Locator("#terminal");
        await Expect(terminal).ToHaveAttributeAsync("data-ready", "true");
        await page.Locator(".terminal .xterm-helper-textarea").FocusAsync();
        await page.Keyboard.TypeAsync("echo hi\n");
        await WaitForTerminalRowAsync(page, "hi");
        // The graph's first sample and the facts fill in while the shell runs: the terminal stays in view (a terminal
        // pushed out of view stops drawing).
        await Expect(terminal).ToBeInViewportAsync();
        await Expect(page.Locator(".stats")).ToContainTextAsync("CPU", new() { Timeout = 20_000 });
        await Expect(page.Locator(".chart canvas").First).ToBeVisibleAsync();

        // The terminal follows the window: a smaller viewport resizes the shell's terminal to the new rows and columns.
        var before = await terminal.GetAttributeAsync("data-cols");
        await page.SetViewportSizeAsync(900, 700);
        await Expect(terminal).Not.ToHaveAttributeAsync("data-cols", before!);
        await page.EvaluateAsync("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"); // the layout settles
        var size = $"{await terminal.GetAttributeAsync("data-rows")} {await terminal.GetAttributeAsync("data-cols")}";
        await page.Keyboard.TypeAsync($"until [ \"$(stty size)\" = \"{size}\" ]; do sleep 0.1; done; echo \"size-ok $(stty size)\"\n");
        await WaitForTerminalRowAsync(page, "size-ok " + size);
        await Expect(terminal).ToBeInViewportAsync();
        await FixtureShot(page, "instance-detail-shell");

        // Snapshots from the page: take one, change the file, stop, restore (offered only once stopped), and the
        // restored container has the file as it was; then remove the snapshot.
        await page.Keyboard.TypeAsync("echo snap-one > /marker && echo marker-written\n");
        await WaitForTerminalRowAsync(page, "marker-written");
        await page.GetByLabel("Snapshot name").FillAsync("snap-1");
        await page.GetByRole(AriaRole.Button, new() { Name = "Take snapshot" }).ClickAsync();
        var snapshotRow = page.Locator("table.snapshots tr[data-snapshot='snap-1']");
        await Expect(snapshotRow).ToContainTextAsync("filesystem", new() { Timeout = 60_000 });
        var restore = page.GetByRole(AriaRole.Button, new() { Name = "Restore snap-1" });
        await Expect(restore).ToBeDisabledAsync();
        await page.Locator(".terminal .xterm-helper-textarea").FocusAsync();
        await page.Keyboard.TypeAsync("echo snap-two > /marker && echo marker-changed\n");
        await WaitForTerminalRowAsync(page, "marker-changed");
        await page.GetByRole(AriaRole.Button, new() { Name = "Stop shell-box" }).ClickAsync();
        await Expect(page.Locator("#state")).ToHaveTextAsync(new Regex("^(stopped|exited)$"), new() { Timeout = 60_000 });
        await restore.ClickAsync();
        await Expect(page.Locator("p.status", new() { HasText = "Restored snap-1." })).ToBeVisibleAsync(new() { Timeout = 60_000 });
        await Expect(page.Locator("#state")).ToHaveTextAsync("running");
        await page.GetByRole(AriaRole.Button, new() { Name = "Open shell" }).ClickAsync();
        await Expect(terminal).ToHaveAttributeAsync("data-ready", "true");
        await page.Locator(".terminal .xterm-helper-textarea").FocusAsync();
        await page.Keyboard.TypeAsync("cat /marker\n");
        await WaitForTerminalRowAsync(page, "snap-one");
        await page.GetByRole(AriaRole.Button, new() { Name = "Remove snapshot snap-1" }).ClickAsync();
        await Expect(snapshotRow).ToHaveCountAsync(0);
        using (var c = fx.Tcp(fx.OperatorA))
        {
            Assert.Empty((await c.ListSnapshotsAsync("shell-box")).Items);
        }
        await DashboardFixture.AssertEveryControlLabelledAsync(page, "instance detail (container)");
        await DashboardFixture.AssertNotReloadedAsync(page);

        await page.GetByRole(AriaRole.Link, new() { Name = "Instances" }).ClickAsync();
        await Expect(page.Locator("tr[data-name='shell-box']")).ToHaveAttributeAsync("data-state", "running");
        using var a = fx.Tcp(fx.OperatorA);
        await a.DeleteAsync("shell-box", force: true);
        await Expect(page.Locator("tr[data-name='shell-box']")).ToHaveCountAsync(0);
        await page.Context.CloseAsync();
    }

    [SkippableFact]
    public async Task InstanceList_ShowsANewInstanceRunningWithoutReload_AndStopsOneFromTheList()
    {
        fx.RequireBrowser();
        var page = await fx.SignInAsync(fx.OperatorA);
        await page.GetByRole(AriaRole.Link, new() { Name = "Instances" }).ClickAsync();
        await Expect(page.Locator("#instances-count")).ToContainTextAsync("instances");

        using var a = fx.Tcp(fx.OperatorA);
        await a.CreateAsync(Sleeper("live-1"));
        var row = page.Locator("tr[data-name='live-1']");
        await Expect(row).ToHaveAttributeAsync("data-state", "running");
        await FixtureShot(page, "instances");

        await page.GetByRole(AriaRole.Button, new() { Name = "Stop live-1" }).ClickAsync();
        await Expect(row).ToHaveAttributeAsync("data-state", new Regex("^(stopped|exited)$"));
        Assert.NotEqual("running", (await a.GetAsync("live-1")).State);

        // Bulk: select two running instances and stop both.
        await a.CreateAsync(Sleeper("live-2"));
        await a.CreateAsync(Sleeper("live-3"));
        await Expect(page.Locator("tr[data-name='live-3']")).ToHaveAttributeAsync("data-state", "running");
        await page.GetByLabel("Select live-2").CheckAsync();
        await page.GetByLabel("Select live-3").CheckAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Stop selected" }).ClickAsync();
        await Expect(page.Locator("tr[data-name='live-2']")).ToHaveAttributeAsync("data-state", new Regex("^(stopped|exited)$"));
        await Expect(page.Locator("tr[data-name='live-3']")).ToHaveAttributeAsync("data-state", new Regex("^(stopped|exited)$"));

        // Filters: by state, by tier, by name.
        await page.GetByLabel("State").SelectOptionAsync("running");
        await Expect(page.Locator("tr[data-name='live-2']")).ToHaveCountAsync(0);
        await page.GetByLabel("State").SelectOptionAsync("");
        await Expect(page.Locator("tr[data-name='live-2']")).ToHaveCountAsync(1);
        await page.GetByLabel("Tier").SelectOptionAsync("container");
        await Expect(page.Locator("tr[data-name='live-2']")).ToHaveCountAsync(0);
        await page.GetByLabel("Tier").SelectOptionAsync("fake");
        await Expect(page.Locator("tr[data-name='live-2']")).ToHaveCountAsync(1);
        await page.GetByLabel("Tier").SelectOptionAsync("");
        await page.GetByLabel("Name").FillAsync("live-3");
        await Expect(page.Locator("tr[data-name='live-2']")).ToHaveCountAsync(0);
        await Expect(page.Locator("tr[data-name='live-3']")).ToHaveCountAsync(1);
        await page.GetByLabel("Name").FillAsync("");

        // Bulk remove: the two selected rows go, from the page and from the daemon.
        await page.GetByRole(AriaRole.Button, new() { Name = "Remove selected" }).ClickAsync();
        await Expect(page.Locator("tr[data-name='live-2'], tr[data-name='live-3']")).ToHaveCountAsync(0);
        Assert.DoesNotContain((await a.ListAsync()).Items, i => i.Name is "live-2" or "live-3");
        await DashboardFixture.AssertNotReloadedAsync(page);

        // The detail page of a fake instance: placement and events.
        await page.GetByRole(AriaRole.Link, new() { Name = "live-1" }).ClickAsync();
        await Expect(page.Locator("#state")).ToHaveTextAsync(new Regex("stopped|exited"));
        await page.GetByRole(AriaRole.Button, new() { Name = "Start live-1" }).ClickAsync();
        await Expect(page.Locator("#state")).ToHaveTextAsync("running");
        await Expect(page.Locator("ol.events li").First).ToContainTextAsync("running");
        await DashboardFixture.AssertEveryControlLabelledAsync(page, "instance detail (fake)");
        await FixtureShot(page, "instance-detail");
        await page.Context.CloseAsync();
    }

    [SkippableFact]
    public async Task Viewer_SeesNoCreateOrStopButtons_AndTheApiRefusesItAnyway()
    {
        fx.RequireBrowser();
        using var a = fx.Tcp(fx.OperatorA);
        await a.CreateAsync(Sleeper("seen-by-viewer"));
        var page = await fx.SignInAsync(fx.ViewerA);
        await Expect(page.Locator("[data-role='viewer']")).ToBeVisibleAsync();
        await Expect(page.GetByRole(AriaRole.Link, new() { Name = "Create" })).ToHaveCountAsync(0);
        await page.GetByRole(AriaRole.Link, new() { Name = "Instances" }).ClickAsync();
        await Expect(page.Locator("tr[data-name='seen-by-viewer']")).ToHaveAttributeAsync("data-state", "running");
        await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Stop seen-by-viewer" })).ToHaveCountAsync(0);
        await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Stop selected" })).ToHaveCountAsync(0);
        await Expect(page.Locator("button[data-act]")).ToHaveCountAsync(0);
        await FixtureShot(page, "instances-viewer");

        await page.GotoAsync(fx.BaseUrl + "/ui/#/instance/seen-by-viewer");
        await Expect(page.Locator("#state")).ToHaveTextAsync("running");
        await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Stop seen-by-viewer" })).ToHaveCountAsync(0);
        await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Open shell" })).ToHaveCountAsync(0);
        await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Take snapshot" })).ToHaveCountAsync(0);
        await DashboardFixture.AssertEveryControlLabelledAsync(page, "instance detail (viewer)");

        // Forcing it: the page's own token, calling the API directly.
        var statuses = await page.EvaluateAsync<int[]>("""
            async token => {
              const h = { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json' };
              const create = await fetch('/v1/instances', { method: 'POST', headers: h, body: JSON.stringify({ spec: { name: 'forced', tier: 'fake', args: ['sleep'] } }) });
              const stop = await fetch('/v1/instances/seen-by-viewer/stop', { method: 'POST', headers: h });
              return [create.status, stop.status];
            }
            """, fx.ViewerA);
        Assert.Equal([403, 403], statuses);
        Assert.Equal("running", (await a.GetAsync("seen-by-viewer")).State);
        await Assert.ThrowsAsync<StrataApiException>(() => a.GetAsync("forced"));
        await page.Context.CloseAsync();
    }

    [SkippableFact]
    public async Task SecondProjectsToken_SeesNoneOfTheFirstProjectsInstances_NotEvenLive()
    {
        fx.RequireBrowser();
        using var a = fx.Tcp(fx.OperatorA);
        await a.CreateAsync(Sleeper("only-in-a"));
        var page = await fx.SignInAsync(fx.OperatorB);
        await page.GetByRole(AriaRole.Link, new() { Name = "Instances" }).ClickAsync();
        await Expect(page.Locator("#instances-count")).ToHaveTextAsync("0 of 0 instances");
        await a.CreateAsync(Sleeper("made-while-b-watches"));
        using var b = fx.Tcp(fx.OperatorB);
        await b.CreateAsync(Sleeper("b-own"));
        // b's own instance arrives over the same event stream; a's never do.
        await Expect(page.Locator("tr[data-name='b-own']")).ToHaveAttributeAsync("data-state", "running");
        await Expect(page.Locator("tbody tr[data-name]")).ToHaveCountAsync(1);
        await Expect(page.Locator("#instances-count")).ToHaveTextAsync("1 of 1 instances");

        // Another project's instance is "not found", exactly like a missing one.
        await page.GotoAsync(fx.BaseUrl + "/ui/#/instance/only-in-a");
        var status = page.Locator("main p.status").First;
        await Expect(status).ToContainTextAsync("only-in-a");
        var foreign = await status.TextContentAsync();
        await page.GotoAsync(fx.BaseUrl + "/ui/#/instance/no-such-one");
        await Expect(status).ToContainTextAsync("no-such-one");
        var missing = await status.TextContentAsync();
        Assert.Contains("only-in-a", foreign);
        Assert.Equal(missing!.Replace("no-such-one", "X"), foreign!.Replace("only-in-a", "X"));
        await b.DeleteAsync("b-own", force: true);
        await page.Context.CloseAsync();
    }

    [SkippableFact]
    public async Task InstanceList_Renders1000Instances_Within300Milliseconds()
    {
        fx.RequireBrowser();
        await fx.Admin.CreateProjectAsync(new CreateProjectRequest { Name = "perf", Restrictions = DashboardFixture.AnyTier });
        using var perf = new StrataClient(new ClientOptions { Host = new Uri(fx.BaseUrl), Token = fx.AdminToken, Project = "perf" });
        var names = Enumerable.Range(0, 1000).Select(i => $"p{i:D4}").ToList();
        await Parallel.ForEachAsync(names, new ParallelOptions { MaxDegreeOfParallelism = 4 },
            async (n, ct) => await perf.CreateAsync(Sleeper(n), start: false, ct));
        var viewer = (await fx.Admin.CreateTokenAsync("perf", ProjectRoles.Operator)).Token!;

        var page = await fx.SignInAsync(viewer);
        var timings = new List<(double Render, double Frame)>();
        for (var round = 0; round < 3; round++)
        {
            await page.GotoAsync(fx.BaseUrl + "/ui/#/overview");
            await page.EvaluateAsync("() => { window.strataMetrics = undefined; }");
            await page.GotoAsync(fx.BaseUrl + "/ui/#/instances");
            await page.WaitForFunctionAsync("() => window.strataMetrics && window.strataMetrics.listRows === 1000", null, new() { Timeout = 60_000 });
            var m = await page.EvaluateAsync<double[]>("() => [window.strataMetrics.listRenderMs, window.strataMetrics.listFrameMs]");
            timings.Add((m[0], m[1]));
        }
        // Only the rows in view are drawn; the table says it has 1,000, and scrolling draws the last ones.
        await Expect(page.Locator("table.instances")).ToHaveAttributeAsync("aria-rowcount", "1001");
        await Expect(page.Locator("#instances-count")).ToHaveTextAsync("1000 of 1000 instances");
        await FixtureShot(page, "instances-1000");
        await page.Locator(".table-wrap.scroll").EvaluateAsync("e => { e.scrollTop = e.scrollHeight; }");
        await Expect(page.Locator("tr[data-name='p0999']")).ToHaveAttributeAsync("aria-rowindex", "1001");
        var best = timings.MinBy(t => t.Frame);
        var line = $"instance list, 1000 rows: DOM+layout {string.Join(" / ", timings.Select(t => $"{t.Render:F0}"))} ms, "
            + $"to the painted frame {string.Join(" / ", timings.Select(t => $"{t.Frame:F0}"))} ms (3 loads)";
        output.WriteLine(line);
        await File.WriteAllTextAsync(Path.Combine(DashboardFixture.Screenshots, "instance-list-timing.txt"), line + "\n");
        Assert.True(best.Frame <= 300, line);
        foreach (var n in names)
        {
            await perf.DeleteAsync(n, force: true);
        }
        await page.Context.CloseAsync();
    }

    [SkippableFact]
    public async Task EveryPage_HasLabelsOnEveryControl_IsReachableByKeyboard_AndIsPhotographed()
    {
        fx.RequireBrowser();
        await fx.Admin.SetQuotaAsync("b", new ProjectQuota { Instances = 8 });
        await fx.Admin.BuildBaseImageAsync("ui-base");
        using (var inB = new StrataClient(new ClientOptions { Socket = fx.Socket, Project = "b" }))
        {
            await inB.CreateAsync(Sleeper("only-in-b"));
        }
        using (var inA = new StrataClient(new ClientOptions { Socket = fx.Socket, Project = "a" }))
        {
            await inA.CreateAsync(Sleeper("only-in-a-admin"));
        }
        var page = await fx.SignInAsync(fx.AdminToken);
        foreach (var (link, shot) in new[] { ("Overview", "overview"), ("Instances", "instances-admin"), ("Create", "create-admin"), ("Images", "images"), ("Networks", "networks"), ("Projects", "projects"), ("Bench", "bench") })
        {
            await page.GetByRole(AriaRole.Link, new() { Name = link, Exact = true }).ClickAsync();
            await Expect(page.Locator("[aria-busy='true']")).ToHaveCountAsync(0);
            await page.WaitForLoadStateAsync(LoadState.NetworkIdle);
            await DashboardFixture.AssertEveryControlLabelledAsync(page, link);
            await FixtureShot(page, shot);
        }
        // Overview: the tiers with why not, the counts, the stored bench numbers; Bench: the whole report.
        await page.GetByRole(AriaRole.Link, new() { Name = "Overview", Exact = true }).ClickAsync();
        await Expect(page.Locator("tr[data-tier='container'] td").First).ToHaveTextAsync(new Regex("^(yes|no)$"));
        var wasm = page.Locator("tr[data-tier='wasm']");
        await Expect(wasm).ToHaveCountAsync(1);
        await Expect(page.Locator("table.counts caption")).ToContainTextAsync("instances");
        await Expect(page.Locator("main")).ToContainTextAsync("632 ms");
        await page.GetByRole(AriaRole.Link, new() { Name = "Bench", Exact = true }).ClickAsync();
        await Expect(page.Locator("main")).ToContainTextAsync("ui22-test-kernel");
        await Expect(page.Locator("main")).ToContainTextAsync("stored by the dashboard tests");
        await Expect(page.Locator("main")).ToContainTextAsync("3170 ms");

        // A host administrator's list holds every project's instances; the project filter narrows it to one.
        await page.GetByRole(AriaRole.Link, new() { Name = "Instances", Exact = true }).ClickAsync();
        await Expect(page.Locator("tr[data-name='only-in-b']")).ToHaveCountAsync(1);
        await Expect(page.Locator("tr[data-name='only-in-a-admin']")).ToHaveCountAsync(1);
        await page.GetByLabel("Project", new() { Exact = true }).SelectOptionAsync("b");
        await Expect(page.Locator("tr[data-name='only-in-a-admin']")).ToHaveCountAsync(0);
        await Expect(page.Locator("tr[data-name='only-in-b']")).ToHaveCountAsync(1);
        await page.GetByLabel("Project", new() { Exact = true }).SelectOptionAsync("a");
        await Expect(page.Locator("tr[data-name='only-in-b']")).ToHaveCountAsync(0);
        await Expect(page.Locator("tr[data-name='only-in-a-admin']")).ToHaveCountAsync(1);
        // Project b must be empty again for the test of its token.
        using (var inB = new StrataClient(new ClientOptions { Socket = fx.Socket, Project = "b" }))
        {
            await inB.DeleteAsync("only-in-b", force: true);
        }
        using (var inA = new StrataClient(new ClientOptions { Socket = fx.Socket, Project = "a" }))
        {
            await inA.DeleteAsync("only-in-a-admin", force: true);
        }

        // Images: tag one from the page, then remove the new name.
        await page.GetByRole(AriaRole.Link, new() { Name = "Images", Exact = true }).ClickAsync();
        await Expect(page.Locator("table.images")).ToContainTextAsync("ui-base");
        await page.GetByLabel("Image", new() { Exact = true }).FillAsync("ui-base");
        await page.GetByLabel("New name").FillAsync("ui-tagged:1");
        await page.GetByRole(AriaRole.Button, new() { Name = "Tag", Exact = true }).ClickAsync();
        var tagged = page.Locator("table.images tr", new() { HasText = "ui-tagged:1" });
        await Expect(tagged).ToHaveCountAsync(1);
        await tagged.GetByRole(AriaRole.Button).ClickAsync();
        await Expect(tagged).ToHaveCountAsync(0);
        Assert.Contains((await fx.Admin.ListImagesAsync()).Items, i => i.Name.StartsWith("ui-base", StringComparison.Ordinal));

        // Quotas are usage bars: project b may have 8 instances.
        await page.GetByRole(AriaRole.Link, new() { Name = "Projects", Exact = true }).ClickAsync();
        var card = page.Locator("section.card", new() { Has = page.GetByRole(AriaRole.Heading, new() { Name = "b", Exact = true }) });
        await Expect(card.Locator("meter[data-quota='instances']")).ToHaveAttributeAsync("max", "8");
        await Expect(page.GetByLabel(new Regex("^Instances: \\d+ of 8$"))).ToHaveCountAsync(1);

        // A token is shown once when created, works, and stops working when revoked from the page.
        await card.GetByLabel("Role").SelectOptionAsync("viewer");
        await card.GetByLabel("Description").FillAsync("made in the ui");
        await card.GetByRole(AriaRole.Button, new() { Name = "Create token" }).ClickAsync();
        var secret = await card.Locator("code.secret").TextContentAsync();
        Assert.False(string.IsNullOrEmpty(secret));
        using (var made = fx.Tcp(secret!))
        {
            await made.ListAsync();
            await card.Locator("tr", new() { HasText = "made in the ui" }).GetByRole(AriaRole.Button).ClickAsync();
            await Expect(card.Locator("tr", new() { HasText = "made in the ui" })).ToHaveCountAsync(0);
            Assert.Equal(401, (await Assert.ThrowsAsync<StrataApiException>(() => made.ListAsync())).Status);
        }

        // Keyboard only: Tab to the navigation, Enter follows the link, focus moves to the page's heading.
        await page.GotoAsync(fx.BaseUrl + "/ui/#/overview");
        await page.GetByRole(AriaRole.Heading, new() { Name = "Overview" }).WaitForAsync();
        await page.Locator("body").FocusAsync();
        string? focused = null;
        for (var i = 0; i < 12 && focused != "Instances"; i++)
        {
            await page.Keyboard.PressAsync("Tab");
            focused = await page.EvaluateAsync<string>("() => document.activeElement?.textContent?.trim() ?? ''");
        }
        Assert.Equal("Instances", focused);
        await page.Keyboard.PressAsync("Enter");
        await page.WaitForURLAsync(new Regex("#/instances$"));
        Assert.Equal("Instances", await page.EvaluateAsync<string>("() => document.activeElement?.textContent?.trim() ?? ''"));
        await page.Context.CloseAsync();
    }

    private static Task FixtureShot(IPage page, string name) => DashboardFixture.ScreenshotAsync(page, name);

    /// <summary>Waits until a row of the terminal on the page shows exactly <paramref name="text"/>; on a timeout, says what it shows.</summary>
    internal static async Task WaitForTerminalRowAsync(IPage page, string text, float timeout = 30_000)
    {
        try
        {
            await page.WaitForFunctionAsync(
                "t => [...document.querySelectorAll('.terminal .xterm-rows > div')].some(r => r.textContent.trim() === t)",
                text, new() { Timeout = timeout });
        }
        catch (TimeoutException)
        {
            var shown = await page.EvaluateAsync<string>(
                "() => [...document.querySelectorAll('.terminal .xterm-rows > div')].map(r => r.textContent.trimEnd()).filter(Boolean).join('\\n')");
            throw new TimeoutException($"the terminal never showed a row '{text}'; it shows:\n{shown}");
        }
    }
}
