using Microsoft.Extensions.Logging;
using Strata.Client;
using Strata.Contracts;
using Strata.Daemon;

namespace Strata.Container.Tests;

/// <summary>A real container create as an operation: the image's layers are unpacked by that create, step by step.</summary>
[Collection(ContainerCollection.Name)]
public sealed class DaemonCreateOperationTests(ContainerFixture fx)
{
    [SkippableFact]
    public async Task ContainerCreate_LayersToUnpack_ProgressShowsEachLayerThenRootfsThenStart_InOrder()
    {
        fx.RequireEngine();
        var root = Path.Combine(fx.Root, "daemon-ops");
        var socket = Path.Combine(fx.Root, "ops.sock");
        await using var host = await DaemonHost.StartAsync(new DaemonOptions
        {
            Root = root,
            Socket = socket,
            Supervisor = fx.Supervisor,
        }, logging => logging.ClearProviders());
        using var client = new StrataClient(new ClientOptions { Socket = socket });
        await client.BuildBaseImageAsync("opsbase:1");
        await client.CreateAsync(new InstanceSpec { Tier = "container", Image = "opsbase:1", Name = "plain", Args = ["true"] });
        Assert.Equal(0, (await client.WaitAsync("plain")).ExitCode);
        await client.CommitAsync("plain", "ops:2", ["echo", "from ops"]);
        await client.DeleteAsync("plain");
        // The store keeps the blobs; the unpacked layers go, so the next create unpacks both of them itself.
        foreach (var layer in Directory.GetDirectories(Path.Combine(root, "images", "layers")))
        {
            Directory.Delete(layer, recursive: true);
        }

        var operation = await client.CreateOperationAsync(new InstanceSpec { Tier = "container", Image = "ops:2", Name = "unpacked" });
        var seen = new List<string>();
        OperationInfo? final = null;
        await foreach (var e in client.WatchOperationAsync(operation.Id))
        {
            // The first event is the operation as it is (steps may be over by then), then each update as it happens.
            foreach (var item in e.Item is { } one ? [one] : e.Operation?.Progress.Items ?? [])
            {
                if (!seen.Contains(item.Message!))
                {
                    seen.Add(item.Message!);
                }
            }
            final = e.Operation ?? final;
        }
        Assert.True(final!.Status == OperationStatusNames.Succeeded, final.Error?.Detail);
        // What this watcher saw is the create's own order (a watcher that joins late misses the counts it was not there for).
        string[] order = ["resolving image ops:2", "unpacking layer 1/2", "unpacking layer 2/2", "preparing the root file system and the bundle", "starting"];
        Assert.Equal(order.Where(seen.Contains), seen);
        Assert.Equal(["image", "layers", "rootfs", "start"], final.Progress.Items.Select(i => i.Id));
        Assert.All(final.Progress.Items, i => Assert.Equal("done", i.Phase));
        var layers = final.Progress.Items.Single(i => i.Id == "layers");
        Assert.Equal(("unpacking layer 2/2", 2L, 2L), (layers.Message, layers.Current, layers.Total));
        Assert.Equal(0, (await client.WaitAsync("unpacked")).ExitCode);
        Assert.Equal("from ops", await Strata.Testing.InstanceOutput.LogTextAsync(client, "unpacked"));
        Assert.Equal(2, Directory.GetDirectories(Path.Combine(root, "images", "layers")).Length);
        await client.DeleteAsync("unpacked");
    }
}
