using System.Text;
using Microsoft.Playwright;
using Strata.Client;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Testing;
using static Microsoft.Playwright.Assertions;

namespace Strata.Dashboard.Tests;

/// <summary>
/// A shell in a sandbox (QEMU under TCG here, so one guest shared by the tests): through the attach WebSocket, the
/// published CLI's <c>strata exec -it</c>, and the browser; another project's token reaches nothing.
/// </summary>
[Collection(DashboardCollection.Name)]
public sealed class DashboardSandboxShellTests(DashboardFixture fx)
{
    private const string Name = "ui22-sandbox-shell";
    private static readonly SemaphoreSlim s_creating = new(1, 1);
    private static bool s_created;

    /// <summary>The sandbox every test here uses, created once (project a).</summary>
    private async Task RequireSandboxAsync()
    {
        fx.RequireBrowser();
        var sandbox = (await fx.Admin.InfoAsync()).Tiers.Single(t => t.Tier == "sandbox");
        var missing = !sandbox.Available ? $"the sandbox tier is not available here: {sandbox.Reason}"
            : Strata.Node.Drivers.Container.OciRuntime.StaticBusybox() is null ? "busybox-static is not installed" : null;
        TestEnvironment.Require(missing is null, missing ?? "");
        await s_creating.WaitAsync();
        try
        {
            if (s_created)
            {
                return;
            }
            await fx.Admin.BuildBaseImageAsync("busybox");
            using var a = fx.Tcp(fx.OperatorA);
            await a.CreateAsync(new InstanceSpec { Name = Name, Tier = "sandbox", Image = "busybox:latest", Args = ["sleep", "3600"] });
            s_created = true;
        }
        finally
        {
            s_creating.Release();
        }
    }

    [SkippableFact]
    public async Task ExecAttach_SandboxTty_ShellRunsFollowsResizeReturnsItsExitCode_AnotherProjectGets404()
    {
        await RequireSandboxAsync();
        using var a = fx.Tcp(fx.OperatorA);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        using (var shell = await a.AttachExecAsync(Name, new ExecRequest { Command = ["sh"], Tty = true }, 80, 24, timeout.Token))
        {
            var screen = new TerminalScreen();
            var run = shell.RunAsync(null, screen, Stream.Null, timeout.Token);
            await screen.WaitForAsync("# ", timeout.Token);
            await shell.SendInputAsync("echo hi\r"u8.ToArray(), timeout.Token);
            await screen.WaitForAsync("\r\nhi\r\n", timeout.Token);
            await screen.TypeUntilAsync(shell, "stty size\r", "\r\n24 80\r\n", timeout.Token);
            await shell.ResizeAsync(132, 43, timeout.Token);
            await screen.TypeUntilAsync(shell, "stty size\r", "\r\n43 132\r\n", timeout.Token);
            await shell.SendInputAsync("exit 7\r"u8.ToArray(), timeout.Token);
            Assert.Equal(7, await run);
        }

        // Another project's operator: the sandbox does not exist for it, over the WebSocket as everywhere else.
        using var b = fx.Tcp(fx.OperatorB);
        var hidden = await Assert.ThrowsAsync<StrataApiException>(() => b.AttachExecAsync(Name, new ExecRequest { Command = ["sh"], Tty = true }, 80, 24, timeout.Token));
        Assert.Equal(404, hidden.Status);
        Assert.Equal(ErrorKind.NotFound, hidden.Kind);
        // A viewer of the sandbox's own project may look but not type.
        using var viewer = fx.Tcp(fx.ViewerA);
        var refused = await Assert.ThrowsAsync<StrataApiException>(() => viewer.AttachExecAsync(Name, new ExecRequest { Command = ["sh"], Tty = true }, 80, 24, timeout.Token));
        Assert.Equal(403, refused.Status);
    }

    [SkippableFact]
    public async Task ExecAttach_SandboxThatIsNotRunning_IsAConflictSayingSo()
    {
        await RequireSandboxAsync();
        using var a = fx.Tcp(fx.OperatorA);
        await a.CreateAsync(new InstanceSpec { Name = Name + "-done", Tier = "sandbox", Image = "busybox:latest", Args = ["true"] });
        Assert.True(await TestEnvironment.EventuallyAsync(() => a.GetAsync(Name + "-done").GetAwaiter().GetResult().State is "exited" or "stopped", TimeSpan.FromMinutes(2)),
            "the sandbox never exited");
        var e = await Assert.ThrowsAsync<StrataApiException>(() => a.AttachExecAsync(Name + "-done", new ExecRequest { Command = ["sh"], Tty = true }));
        Assert.Equal(409, e.Status);
        Assert.Contains("running", e.Message, StringComparison.Ordinal);
        await a.DeleteAsync(Name + "-done", force: true);
    }

    [SkippableFact]
    public async Task Cli_ExecIt_Sandbox_RunsWhatIsTypedAndExitsWithTheShellsCode()
    {
        await RequireSandboxAsync();
        var cli = Path.Combine(TestEnvironment.ArtifactsBin, "strata");
        TestEnvironment.Require(File.Exists(cli), "strata is not published; run scripts/publish-native.sh");
        var environment = new Dictionary<string, string?> { ["STRATA_HOST"] = fx.BaseUrl, ["STRATA_TOKEN"] = fx.OperatorA, ["STRATA_SOCKET"] = null };
        var (code, output, stderr) = await ChildProcess.RunAsync(cli, ["exec", "-it", Name, "--", "sh"], TimeSpan.FromMinutes(2), environment,
            stdin: "echo hi-from-cli\nexit 4\n");
        Assert.True(code == 4, $"exit {code}; stdout: {output}; stderr: {stderr}");
        Assert.Contains(output.Split('\n'), line => line.TrimEnd('\r') == "hi-from-cli");
    }

    [SkippableFact]
    public async Task SandboxShell_InTheBrowser_TypesEchoHiSeesHiAndFollowsTheWindowSize()
    {
        await RequireSandboxAsync();
        var page = await fx.SignInAsync(fx.OperatorA);
        await page.GotoAsync(fx.BaseUrl + "/ui/#/instance/" + Name);
        await Expect(page.Locator("#state")).ToHaveTextAsync("running", new() { Timeout = 60_000 });
        await page.GetByRole(AriaRole.Button, new() { Name = "Open shell" }).ClickAsync();
        // "Shell open." is said once the shell has printed its prompt.
        await Expect(page.Locator("p.status", new() { HasText = "Shell open." })).ToBeVisibleAsync(new() { Timeout = 60_000 });
        var terminal = page.Locator("#terminal");
        await Expect(terminal).ToHaveAttributeAsync("data-ready", "true");
        await page.Locator(".terminal .xterm-helper-textarea").FocusAsync();
        await page.Keyboard.TypeAsync("echo hi\n");
        await DashboardBrowserTests.WaitForTerminalRowAsync(page, "hi", 60_000);
        await Expect(terminal).ToBeInViewportAsync();

        // The guest's terminal follows the window: a smaller viewport resizes it to the new rows and columns.
        var before = await terminal.GetAttributeAsync("data-cols");
        await page.SetViewportSizeAsync(900, 700);
        await Expect(terminal).Not.ToHaveAttributeAsync("data-cols", before!);
        await page.EvaluateAsync("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"); // the layout settles
        var size = $"{await terminal.GetAttributeAsync("data-rows")} {await terminal.GetAttributeAsync("data-cols")}";
        await page.Keyboard.TypeAsync($"until [ \"$(stty size)\" = \"{size}\" ]; do sleep 0.1; done; echo \"size-ok $(stty size)\"\n");
        await DashboardBrowserTests.WaitForTerminalRowAsync(page, "size-ok " + size, 60_000);
        await Expect(terminal).ToBeInViewportAsync();
        await DashboardFixture.ScreenshotAsync(page, "instance-detail-sandbox-shell");

        await page.Keyboard.TypeAsync("exit 5\n");
        await Expect(page.Locator("p.status", new() { HasText = "The shell exited with code 5." })).ToBeVisibleAsync(new() { Timeout = 60_000 });
        await DashboardFixture.AssertEveryControlLabelledAsync(page, "instance detail (sandbox)");
        await page.Context.CloseAsync();
    }
}
