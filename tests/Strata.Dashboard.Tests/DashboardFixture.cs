using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Playwright;
using Strata.Client;
using Strata.Contracts;
using Strata.Daemon;
using Strata.Node.Drivers.Container;
using Strata.Testing;

namespace Strata.Dashboard.Tests;

/// <summary>
/// A real daemon with a TCP listener (fake tier on, the container tier on a busybox root filesystem when this host can
/// run it), projects <c>a</c> and <c>b</c> with tokens, and Debian's Chromium driven by Playwright (never downloaded).
/// </summary>
public sealed class DashboardFixture : IAsyncLifetime
{
    private readonly TempDirectory _dir = new("strata-ui");
    private DaemonHost? _host;

    /// <summary>The fake tier stands in for workloads whose engine is not what a test is about.</summary>
    public static readonly ProjectRestrictions AnyTier = new() { AllowedTiers = ["fake", "container", "sandbox", "vm", "wasm"] };

    public const string BenchReport = """
        {"machine":{"cpus":2,"kernel":"ui22-test-kernel"},
         "tiers":{"container":{"startMedianMs":48,"detail":"runc"},"sandbox":{"startMedianMs":632,"detail":"template"},"vm":{"startMedianMs":3170}},
         "targets":[{"id":"P1","name":"container start","value":48}],
         "notes":["stored by the dashboard tests"]}
        """;

    public int Port { get; private set; }
    public string Socket => _dir.Combine("s.sock");
    public string BaseUrl => $"http://127.0.0.1:{Port}";
    public StrataClient Admin { get; private set; } = null!;
    public string AdminToken { get; private set; } = "";
    public string OperatorA { get; private set; } = "";
    public string ViewerA { get; private set; } = "";
    public string OperatorB { get; private set; } = "";
    public string? BrowserMissing { get; private set; }
    public string? ContainerMissing { get; private set; }
    public IPlaywright? Playwright { get; private set; }
    public IBrowser? Browser { get; private set; }
    public static string Screenshots { get; } = Path.Combine(TestEnvironment.RepoRoot, "artifacts", "test-results", "ui");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Screenshots);
        Port = FreePort();
        var busybox = OciRuntime.StaticBusybox();
        var images = new Dictionary<string, string>();
        if (busybox is not null)
        {
            BusyboxRootfs.Build(busybox, _dir.Combine("busybox"));
            images["busybox"] = _dir.Combine("busybox");
        }
        _host = await DaemonHost.StartAsync(new DaemonOptions
        {
            Root = _dir.Combine("root"),
            Socket = _dir.Combine("s.sock"),
            Listen = new IPEndPoint(IPAddress.Loopback, Port),
            EnableFakeTier = true,
            Supervisor = TestEnvironment.Supervisor,
            Images = images,
        }, l => l.SetMinimumLevel(LogLevel.Warning));
        AdminToken = File.ReadAllText(_dir.Combine("root", "admin.token")).Trim();
        Admin = new StrataClient(new ClientOptions { Socket = _dir.Combine("s.sock") });

        var container = (await Admin.InfoAsync()).Tiers.Single(t => t.Tier == "container");
        ContainerMissing = !TestEnvironment.IsRoot ? "the container tier needs root"
            : busybox is null ? "busybox-static is not installed (apt-get install busybox-static)"
            : TestEnvironment.Supervisor is null ? "strata-supervisor is not published; run scripts/publish-native.sh"
            : !container.Available ? $"the container tier is not available here: {container.Reason}"
            : null;

        // A stored bench report (what 'strata bench' leaves): the advisor quotes it as the measured costs, the Overview
        // and Bench pages show it. The order of the tiers' costs is the documented classes' order.
        await Admin.SaveBenchResultsAsync(BenchReport);

        await Admin.CreateProjectAsync(new CreateProjectRequest { Name = "a", Restrictions = AnyTier });
        await Admin.CreateProjectAsync(new CreateProjectRequest { Name = "b", Restrictions = AnyTier });
        OperatorA = (await Admin.CreateTokenAsync("a", ProjectRoles.Operator, "ui tests")).Token!;
        ViewerA = (await Admin.CreateTokenAsync("a", ProjectRoles.Viewer, "ui tests")).Token!;
        OperatorB = (await Admin.CreateTokenAsync("b", ProjectRoles.Operator, "ui tests")).Token!;

        var chromium = new[] { "/usr/lib/chromium/chromium", "/usr/bin/chromium" }.FirstOrDefault(File.Exists);
        if (chromium is null)
        {
            BrowserMissing = "Chromium is not installed (apt-get install chromium; scripts/deps/dashboard.txt)";
            return;
        }
        Playwright = await Microsoft.Playwright.Playwright.CreateAsync();
        Browser = await Playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        });
    }

    public void RequireBrowser() => TestEnvironment.Require(BrowserMissing is null, BrowserMissing ?? "");

    public void RequireContainer() => TestEnvironment.Require(ContainerMissing is null, ContainerMissing ?? "");

    public StrataClient Tcp(string token) => new(new ClientOptions { Host = new Uri(BaseUrl), Token = token });

    /// <summary>A fresh browser context, signed in with <paramref name="token"/> through the sign-in form.</summary>
    public async Task<IPage> SignInAsync(string token, string? baseUrl = null)
    {
        var context = await Browser!.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1366, Height = 900 } });
        var page = await context.NewPageAsync();
        page.SetDefaultTimeout(30_000);
        await page.GotoAsync((baseUrl ?? BaseUrl) + "/ui/");
        await page.GetByLabel("API token").FillAsync(token);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await page.GetByRole(AriaRole.Navigation, new() { Name = "Main" }).WaitForAsync();
        // Marks this document: a reload would lose it, so tests can prove that updates came without one.
        await page.EvaluateAsync("() => { window.strataNoReload = true; }");
        return page;
    }

    public static async Task ScreenshotAsync(IPage page, string name) =>
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Screenshots, name + ".png"), FullPage = true });

    /// <summary>Every input, select, textarea, button, meter and progress on the page has a label (the terminal's own excepted).</summary>
    public static async Task AssertEveryControlLabelledAsync(IPage page, string where)
    {
        var unlabelled = await page.EvaluateAsync<string[]>("""
            () => [...document.querySelectorAll('input, select, textarea, button, meter, progress')]
              .filter(e => !e.closest('.xterm'))
              .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby')
                           && !(e.tagName === 'BUTTON' && e.textContent.trim()))
              .map(e => e.outerHTML.slice(0, 120))
            """);
        Assert.True(unlabelled.Length == 0, $"{where}: controls without a label: {string.Join("; ", unlabelled)}");
    }

    public static async Task AssertNotReloadedAsync(IPage page) =>
        Assert.True(await page.EvaluateAsync<bool>("() => window.strataNoReload === true"), "the page was reloaded");

    public static int FreePort() => TestEnvironment.FreeLoopbackPort();

    public async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.CloseAsync();
        }
        Playwright?.Dispose();
        if (_host is not null)
        {
            foreach (var project in new[] { "a", "b", "perf", "default" })
            {
                using var c = new StrataClient(new ClientOptions { Socket = _dir.Combine("s.sock"), Project = project });
                try
                {
                    foreach (var i in (await c.ListAsync()).Items)
                    {
                        await c.DeleteAsync(i.Name, force: true);
                    }
                }
                catch (StrataApiException)
                {
                    // the project was never made
                }
            }
            Admin.Dispose();
            await _host.DisposeAsync();
        }
        _dir.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class DashboardCollection : ICollectionFixture<DashboardFixture>
{
    public const string Name = "dashboard";
}
