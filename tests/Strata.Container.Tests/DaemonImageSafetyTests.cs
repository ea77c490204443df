using System.Net;
using Microsoft.Extensions.Logging;
using Strata.Client;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Daemon;
using Strata.Testing;

namespace Strata.Container.Tests;

/// <summary>
/// The shared image store under tenants and under running containers: a tenant cannot replace an image, and
/// removing and pruning an image leaves the containers that stand on it whole.
/// </summary>
[Collection(ContainerCollection.Name)]
public sealed class DaemonImageSafetyTests(ContainerFixture fx)
{
    [SkippableFact]
    public async Task Commit_TenantToken_RefusedForExistingAndNewNames_OtherProjectsKeepTheOriginal_AdminCommitsUnchanged()
    {
        fx.RequireEngine();
        var port = NetworkCensus.FreePort();
        var socket = Path.Combine(fx.Root, "own.sock");
        await using var host = await DaemonHost.StartAsync(new DaemonOptions
        {
            Root = Path.Combine(fx.Root, "daemon-own"),
            Socket = socket,
            Supervisor = fx.Supervisor,
            Listen = new IPEndPoint(IPAddress.Loopback, port),
        }, logging => logging.ClearProviders());
        using var admin = new StrataClient(new ClientOptions { Socket = socket });
        var original = await admin.BuildBaseImageAsync("busybox:latest");
        var containersOnly = new ProjectRestrictions { AllowedTiers = ["container"] };
        await admin.CreateProjectAsync(new CreateProjectRequest { Name = "ta", Restrictions = containersOnly });
        await admin.CreateProjectAsync(new CreateProjectRequest { Name = "tb", Restrictions = containersOnly });
        StrataClient Tenant(string token) => new(new ClientOptions { Host = new Uri($"http://127.0.0.1:{port}"), Token = token });
        using var a = Tenant((await admin.CreateTokenAsync("ta", ProjectRoles.Operator)).Token!);
        using var b = Tenant((await admin.CreateTokenAsync("tb", ProjectRoles.Operator)).Token!);

        await a.CreateAsync(new InstanceSpec { Tier = "container", Image = "busybox", Name = "evil", Args = ["sh", "-c", "echo pwned > /bin/owned"] });
        Assert.Equal(0, (await a.WaitAsync("evil")).ExitCode);
        foreach (var target in new[] { "busybox", "busybox:latest", "tenant-new:1" })
        {
            var refused = await Assert.ThrowsAsync<StrataApiException>(() => a.CommitAsync("evil", target));
            Assert.Equal(403, refused.Status);
            Assert.Contains("only host administrators", refused.Message, StringComparison.Ordinal);
        }
        Assert.Equal(original.Id, (await admin.InspectImageAsync("busybox")).Image.Id);
        Assert.Equal(404, (await Assert.ThrowsAsync<StrataApiException>(() => admin.InspectImageAsync("tenant-new:1"))).Status);

        // Another project's run of busybox gets the original image, without the tenant's file.
        var run = await b.CreateAsync(new InstanceSpec { Tier = "container", Image = "busybox", Name = "victim", Args = ["sh", "-c", "test -e /bin/owned && echo owned || echo clean"] });
        Assert.Equal(original.Id, run.Details!["image"]);
        Assert.Equal(0, (await b.WaitAsync("victim")).ExitCode);
        Assert.Equal("clean", await InstanceOutput.LogTextAsync(b, "victim"));

        // The host administrator still commits, an unchanged container too (an empty layer).
        await admin.CreateAsync(new InstanceSpec { Tier = "container", Image = "busybox", Name = "plain", Args = ["true"] });
        Assert.Equal(0, (await admin.WaitAsync("plain")).ExitCode);
        var committed = await admin.CommitAsync("plain", "plain:1", ["echo", "from plain"]);
        Assert.Equal(2, (await admin.InspectImageAsync("plain:1")).Layers.Count);
        var again = await admin.CreateAsync(new InstanceSpec { Tier = "container", Image = "plain:1", Name = "again" });
        Assert.Equal(committed.Id, again.Details!["image"]);
        Assert.Equal(0, (await admin.WaitAsync("again")).ExitCode);
        Assert.Equal("from plain", await InstanceOutput.LogTextAsync(admin, "again"));
    }

    [SkippableFact]
    public async Task ImageRemovedAndPrunedUnderARunningContainer_ContainerKeepsItsFilesAndRestarts_PruneAfterRemovalFrees()
    {
        fx.RequireEngine();
        var socket = Path.Combine(fx.Root, "prune.sock");
        await using var host = await DaemonHost.StartAsync(new DaemonOptions
        {
            Root = Path.Combine(fx.Root, "daemon-prune"),
            Socket = socket,
            Supervisor = fx.Supervisor,
        }, logging => logging.ClearProviders());
        using var client = new StrataClient(new ClientOptions { Socket = socket });
        await client.BuildBaseImageAsync("doomed:1");
        var created = await client.CreateAsync(new InstanceSpec
        {
            Tier = "container", Image = "doomed:1", Name = "keeper",
            Args = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"],
        });
        var layers = created.Details!["layers"].Split('\n');
        Assert.NotEmpty(layers);

        var removed = await client.RemoveImageAsync("doomed:1", force: true);
        Assert.Equal(["doomed:1"], removed.Removed);
        Assert.Equal(["keeper"], removed.StillUsedBy);
        Assert.Contains("only its name was removed", removed.Message, StringComparison.Ordinal);
        Assert.DoesNotContain((await client.ListImagesAsync()).Items, i => i.Name == "doomed:1");

        var prune = await client.PruneImagesAsync();
        Assert.Equal(0, prune.LayersRemoved);
        Assert.Equal(layers.Length, prune.LayersInUse);
        Assert.All(layers, l => Assert.True(File.Exists(Path.Combine(l, "bin", "busybox")), $"{l} lost its files"));
        Assert.Equal((0, "intact"), await InstanceOutput.ExecAsync(client, "keeper", "test -x /bin/busybox && ls /bin | grep -qx sh && echo intact"));

        // Restartable: stop, start, and the root is whole.
        await client.StopAsync("keeper", 5);
        Assert.Equal("running", (await client.StartAsync("keeper")).State);
        Assert.Equal((0, "intact"), await InstanceOutput.ExecAsync(client, "keeper", "test -x /bin/busybox && echo intact"));

        // Once the instance is gone, prune reclaims the layers.
        await client.DeleteAsync("keeper", force: true);
        await DaemonContainerTests.WaitUntilAsync(async () => (await client.ListAsync()).Items.All(i => i.Name != "keeper"));
        var after = await client.PruneImagesAsync();
        Assert.Equal(layers.Length, after.LayersRemoved);
        Assert.Equal(0, after.LayersInUse);
        Assert.All(layers, l => Assert.False(Directory.Exists(l), $"{l} was not reclaimed"));
    }
}
