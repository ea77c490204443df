using Microsoft.Playwright;
using Strata.Contracts;
using Strata.Testing;
using static Microsoft.Playwright.Assertions;

namespace Strata.Dashboard.Tests;

/// <summary>A VM's serial console and resize in the browser: one real guest boot (QEMU, under TCG here: slow), so one test.</summary>
[Collection(DashboardCollection.Name)]
public sealed class DashboardConsoleTests(DashboardFixture fx)
{
    [SkippableFact]
    public async Task VmConsole_InTheBrowser_RunsACommandInTheGuest()
    {
        fx.RequireBrowser();
        var vm = (await fx.Admin.InfoAsync()).Tiers.Single(t => t.Tier == "vm");
        var missing = !vm.Available ? $"the vm tier is not available here: {vm.Reason}"
            : Strata.Node.Drivers.Container.OciRuntime.StaticBusybox() is null ? "busybox-static is not installed" : null;
        TestEnvironment.Require(missing is null, missing ?? "");
        await fx.Admin.BuildBaseImageAsync("busybox");
        using var a = fx.Tcp(fx.OperatorA);
        // The workload opens the serial console first (input is buffered from then on), says so, and runs a shell there.
        await a.CreateAsync(new InstanceSpec
        {
            Name = "con", Tier = "vm", Image = "busybox:latest",
            Resources = new ResourceSpec { MemoryBytes = 256L * 1024 * 1024 },
            Command = ["sh", "-c", "exec 3<>/dev/ttyS0; echo console-open; exec sh -i <&3 >&3 2>&3"],
        });
        var page = await fx.SignInAsync(fx.OperatorA);
        await page.GotoAsync(fx.BaseUrl + "/ui/#/instance/con");
        await Expect(page.Locator("#state")).ToHaveTextAsync("running", new() { Timeout = 60_000 });
        // The logs on the page follow the guest's output.
        await Expect(page.Locator("pre.logs")).ToContainTextAsync("console-open", new() { Timeout = 240_000 });

        await page.GetByRole(AriaRole.Button, new() { Name = "Open console" }).ClickAsync();
        await Expect(page.Locator("p.status", new() { HasText = "Console attached" })).ToBeVisibleAsync();
        await page.Locator(".terminal .xterm-helper-textarea").FocusAsync();
        await page.Keyboard.TypeAsync("echo answer-$((6*7))\n");
        // The typed line is echoed; only the guest's shell prints answer-42 on a line of its own.
        await DashboardBrowserTests.WaitForTerminalRowAsync(page, "answer-42", 60_000);
        await Expect(page.Locator("#terminal")).ToBeInViewportAsync();
        await DashboardFixture.ScreenshotAsync(page, "instance-detail-vm-console");

        // Resize from the page: the balloon takes memory back, and the guest's MemTotal drops by it (256 to 160 MiB).
        await page.Keyboard.TypeAsync("m0=$(awk '/MemTotal/{print $2}' /proc/meminfo); echo m0-set\n");
        await DashboardBrowserTests.WaitForTerminalRowAsync(page, "m0-set", 60_000);
        var resize = page.GetByRole(AriaRole.Form, new() { Name = "Resize" });
        await resize.GetByLabel("Memory").FillAsync("160M");
        await resize.GetByRole(AriaRole.Button, new() { Name = "Resize" }).ClickAsync();
        await Expect(page.Locator("p.status", new() { HasText = "Resized." })).ToBeVisibleAsync(new() { Timeout = 60_000 });
        await page.Locator(".terminal .xterm-helper-textarea").FocusAsync();
        await page.Keyboard.TypeAsync("until [ $(awk '/MemTotal/{print $2}' /proc/meminfo) -lt $((m0-80000)) ]; do sleep 1; done; echo balloon-$((6*7))\n");
        await DashboardBrowserTests.WaitForTerminalRowAsync(page, "balloon-42", 120_000);
        await DashboardFixture.ScreenshotAsync(page, "instance-detail-vm-resized");
        await page.GetByRole(AriaRole.Button, new() { Name = "Close", Exact = true }).ClickAsync();
        await a.DeleteAsync("con", force: true);
        await page.Context.CloseAsync();
    }
}
