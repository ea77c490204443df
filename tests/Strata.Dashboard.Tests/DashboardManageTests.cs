using System.Formats.Tar;
using Microsoft.Playwright;
using Strata.Client;
using Strata.Images.Tests;
using Strata.Testing;
using static Microsoft.Playwright.Assertions;

namespace Strata.Dashboard.Tests;

/// <summary>The Images page's import and the Networks page's create and remove, in the browser against the real daemon.</summary>
[Collection(DashboardCollection.Name)]
public sealed class DashboardManageTests(DashboardFixture fx)
{
    [SkippableFact]
    public async Task ImportArchive_FromTheImagesPage_TheImageArrivesUnderTheNameGiven()
    {
        fx.RequireBrowser();
        using var dir = new TempDirectory("strata-ui22-import");
        // A docker-save tarball with one layer holding one file.
        var layer = new MemoryStream();
        using (var writer = new TarWriter(layer, TarEntryFormat.Pax, leaveOpen: true))
        {
            var entry = new PaxTarEntry(TarEntryType.RegularFile, "hello.txt") { DataStream = new MemoryStream("imported by ui22\n"u8.ToArray()) };
            writer.WriteEntry(entry);
        }
        var archive = dir.Combine("image.tar");
        ArchiveBuilder.DockerSave(archive, layer.ToArray(), "ui22-archive:1");

        // The image store is the host's: a host administrator imports.
        var page = await fx.SignInAsync(fx.AdminToken);
        await page.GetByRole(AriaRole.Link, new() { Name = "Images", Exact = true }).ClickAsync();
        await page.GetByLabel("Import archive").SetInputFilesAsync(archive);
        await page.GetByLabel("Name", new() { Exact = true }).FillAsync("ui22-imported:2");
        await page.GetByRole(AriaRole.Button, new() { Name = "Import", Exact = true }).ClickAsync();
        await Expect(page.Locator("p.status", new() { HasText = "Imported." })).ToBeVisibleAsync(new() { Timeout = 60_000 });
        await Expect(page.Locator("table.images")).ToContainTextAsync("ui22-imported:2");
        await DashboardFixture.ScreenshotAsync(page, "images-imported");
        var images = (await fx.Admin.ListImagesAsync()).Items;
        Assert.Contains(images, i => i.Name == "ui22-imported:2" && i.Kind == "oci");
        await fx.Admin.RemoveImageAsync("ui22-imported:2", force: true);
        await page.Context.CloseAsync();
    }

    [SkippableFact]
    public async Task Network_CreatedAndRemovedFromTheNetworksPage_OnlyItsProjectSeesIt()
    {
        fx.RequireBrowser();
        TestEnvironment.Require(TestEnvironment.IsRoot, "networks make bridges: root is needed");
        const string name = "ui22-net";
        var page = await fx.SignInAsync(fx.OperatorA);
        await page.GetByRole(AriaRole.Link, new() { Name = "Networks" }).ClickAsync();
        await page.GetByLabel("Name", new() { Exact = true }).FillAsync(name);
        await page.GetByLabel("Subnet").FillAsync("10.222.22.0/24");
        await page.GetByRole(AriaRole.Button, new() { Name = "Create network" }).ClickAsync();
        await Expect(page.Locator("p.status", new() { HasText = $"Created {name}." })).ToBeVisibleAsync(new() { Timeout = 60_000 });
        var row = page.Locator("table.grid tr", new() { HasText = name });
        await Expect(row).ToContainTextAsync("10.222.22.0/24");
        await DashboardFixture.ScreenshotAsync(page, "networks-created");

        using (var a = fx.Tcp(fx.OperatorA))
        {
            var created = await a.InspectNetworkAsync(name);
            Assert.Equal("10.222.22.0/24", created.Subnet);
            Assert.Equal("a", created.Project);
        }
        using (var b = fx.Tcp(fx.OperatorB))
        {
            Assert.DoesNotContain((await b.ListNetworksAsync()).Items, n => n.Name == name);
            var hidden = await Assert.ThrowsAsync<StrataApiException>(() => b.InspectNetworkAsync(name));
            Assert.Equal(404, hidden.Status);
        }

        await page.GetByRole(AriaRole.Button, new() { Name = $"Remove network {name}" }).ClickAsync();
        await Expect(page.Locator("p.status", new() { HasText = $"Removed {name}." })).ToBeVisibleAsync(new() { Timeout = 60_000 });
        await Expect(row).ToHaveCountAsync(0);
        using (var a = fx.Tcp(fx.OperatorA))
        {
            Assert.DoesNotContain((await a.ListNetworksAsync()).Items, n => n.Name == name);
        }
        await page.Context.CloseAsync();
    }
}
