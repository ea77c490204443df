using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Strata.Client;
using Strata.Contracts;
using Strata.Testing;

namespace Strata.Container.Tests;

/// <summary>
/// A cold move carries the container's image when the target lacks it (two published stratad, real runc, the image
/// only in the source's store): a failing import leaves the target with no image and no blob, and the container
/// running here untouched; a token that may not change the target's image store is refused naming the fix; moved with
/// the target's admin token, the image is on the target with the same ID and name and the container runs there. A
/// second project sees no instance or operation of it and cannot remove the image.
/// </summary>
[Collection(ContainerCollection.Name)]
public sealed class ColdMoveImageTests(ContainerFixture fx)
{
    private static readonly string s_tag = string.Concat(Enumerable.Range(0, 4).Select(_ => (char)('a' + Random.Shared.Next(26))));

    [SkippableFact]
    public async Task ColdMove_TargetWithoutTheImage_GetsItWithTheSameId_AndAFailedImportLeavesNothing()
    {
        fx.RequireEngine();
        _ = PublishedDaemon.Binary;
        var a = Path.Combine(fx.Root, $"img-{s_tag}-a");
        var b = Path.Combine(fx.Root, $"img-{s_tag}-b");
        var port = TestEnvironment.FreeLoopbackPort();
        Process? source = null;
        Process? target = null;
        string? blob = null;
        byte[]? blobBytes = null;
        try
        {
            source = await ColdMoveModesTests.StartDaemonAsync(fx, a, $"mv31i{s_tag}a", null, [], busyboxDirectory: false);
            target = await ColdMoveModesTests.StartDaemonAsync(fx, b, $"mv31i{s_tag}b", port, [], busyboxDirectory: false);
            using var sourceClient = new StrataClient(new ClientOptions { Socket = a + ".sock" });
            using var targetClient = new StrataClient(new ClientOptions { Socket = b + ".sock" });
            var built = await sourceClient.BuildBaseImageAsync();
            var image = await sourceClient.InspectImageAsync("busybox");
            Assert.Equal(built.Id, image.Image.Id);
            Assert.DoesNotContain((await targetClient.ListImagesAsync()).Items, i => i.Id == image.Image.Id || i.Name.StartsWith("busybox", StringComparison.Ordinal));
            var targetBlobs = Path.Combine(b, "images", "blobs");
            var blobsBefore = BlobFiles(targetBlobs);

            await sourceClient.CreateAsync(new InstanceSpec { Tier = "container", Image = "busybox", Name = "app", Args = ["sh", "-c", "echo before > /moved; exec sleep 600"] });
            Assert.True(await TestEnvironment.EventuallyAsync(async () => (await InstanceOutput.ExecAsync(sourceClient, "app", "cat /moved")).Output.Trim() == "before",
                TimeSpan.FromSeconds(120), TimeSpan.FromMilliseconds(250)), "the container never wrote its file on the source");
            var address = $"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}";
            var adminToken = File.ReadAllText(Path.Combine(b, "admin.token")).Trim();

            // A failing import (the source's layer blob no longer matches its digest): refused before the stop; the
            // target keeps no image, no blob and no instance; the container runs on here, never restarted.
            blob = Path.Combine(a, "images", "blobs", "sha256", Hex(image.Layers[0].Digest));
            blobBytes = File.ReadAllBytes(blob);
            File.AppendAllText(blob, "corrupted");
            var failed = await ColdMoveModesTests.MoveAndWaitAsync(sourceClient, "app", new MoveRequest { ToAddress = address, ToToken = adminToken, Mode = "cold" });
            Assert.Equal(OperationStatusNames.Failed, failed.Status);
            Assert.Contains("corrupted", failed.Error!.Detail, StringComparison.Ordinal);
            File.WriteAllBytes(blob, blobBytes);
            blob = null;
            await AssertTargetUntouchedAsync(sourceClient, targetClient, targetBlobs, blobsBefore);

            // A token of the project that may not change the target's image store (an operator's): refused with the fix.
            var operatorToken = (await targetClient.CreateTokenAsync("default", "operator")).Token!;
            var refused = await ColdMoveModesTests.MoveAndWaitAsync(sourceClient, "app", new MoveRequest { ToAddress = address, ToToken = operatorToken, Mode = "cold" });
            Assert.Equal(OperationStatusNames.Failed, refused.Status);
            Assert.Contains("only its host administrator may add one", refused.Error!.Detail, StringComparison.Ordinal);
            Assert.Contains("admin token", refused.Error.Detail, StringComparison.Ordinal);
            await AssertTargetUntouchedAsync(sourceClient, targetClient, targetBlobs, blobsBefore);

            // Moved with the target's admin token: the image arrives with the same ID and name, the container runs there on its layer.
            var moved = await ColdMoveModesTests.MoveAndWaitAsync(sourceClient, "app", new MoveRequest { ToAddress = address, ToToken = adminToken, Mode = "cold" });
            Assert.True(moved.Status == OperationStatusNames.Succeeded, moved.Error?.Detail ?? moved.Status);
            var result = moved.Result!.Value.Deserialize(StrataJsonContext.Default.MoveResult)!;
            Assert.Contains(image.Image.Id, result.Image, StringComparison.Ordinal);
            Assert.Equal(ImageBlobBytes(a, image), result.ImageBytes);
            var imageItem = Assert.Single(moved.Progress.Items, i => i.Id == "image");
            Assert.Equal(result.ImageBytes, imageItem.Current);
            Assert.Equal(result.ImageBytes, imageItem.Total);
            var arrived = await targetClient.InspectImageAsync("busybox");
            Assert.Equal(image.Image.Id, arrived.Image.Id);
            Assert.Equal(image.Image.ManifestDigest, arrived.Image.ManifestDigest);
            Assert.Contains("busybox:latest", arrived.Names);
            var there = "";
            Assert.True(await TestEnvironment.EventuallyAsync(async () =>
            {
                int? code;
                (code, there) = await InstanceOutput.ExecAsync(targetClient, "app", "cat /moved");
                return code == 0;
            }, TimeSpan.FromSeconds(120), TimeSpan.FromMilliseconds(250)), $"the container did not run on the target: {there}");
            Assert.Equal("before", there.Trim());
            Assert.Equal("running", (await targetClient.GetAsync("app")).State);
            Assert.Empty((await sourceClient.ListAsync()).Items);

            // A second project: no instance or move operation of it on either side, and the shared image store is not its to change.
            await targetClient.CreateProjectAsync(new CreateProjectRequest { Name = "mv31other" });
            await sourceClient.CreateProjectAsync(new CreateProjectRequest { Name = "mv31other" });
            using var otherThere = new StrataClient(new ClientOptions { Socket = b + ".sock", Token = (await targetClient.CreateTokenAsync("mv31other", "admin")).Token! });
            using var otherHere = new StrataClient(new ClientOptions { Socket = a + ".sock", Token = (await sourceClient.CreateTokenAsync("mv31other", "admin")).Token! });
            Assert.Empty((await otherThere.ListAsync()).Items);
            Assert.Equal(ErrorKind.NotFound, (await Assert.ThrowsAsync<StrataApiException>(() => otherThere.GetAsync("app"))).Kind);
            Assert.Equal(ErrorKind.NotFound, (await Assert.ThrowsAsync<StrataApiException>(() => otherHere.GetOperationAsync(moved.Id))).Kind);
            Assert.DoesNotContain((await otherHere.ListOperationsAsync()).Items, o => o.Kind == "move");
            Assert.Equal(ErrorKind.Forbidden, (await Assert.ThrowsAsync<StrataApiException>(() => otherThere.RemoveImageAsync("busybox"))).Kind);
            Assert.Equal(image.Image.Id, (await targetClient.InspectImageAsync("busybox")).Image.Id);
        }
        finally
        {
            if (blob is not null && blobBytes is not null)
            {
                File.WriteAllBytes(blob, blobBytes);
            }
            foreach (var (daemon, root) in new[] { (source, a), (target, b) })
            {
                await ColdMoveModesTests.StopAsync(daemon, root);
            }
        }
    }

    /// <summary>After a refused move: the container runs here as before, the target has no image, blob or instance.</summary>
    private static async Task AssertTargetUntouchedAsync(StrataClient sourceClient, StrataClient targetClient, string targetBlobs, string[] blobsBefore)
    {
        var app = await sourceClient.GetAsync("app");
        Assert.Equal("running", app.State);
        Assert.Equal(0, app.RestartCount);
        Assert.Equal("before", (await InstanceOutput.ExecAsync(sourceClient, "app", "cat /moved")).Output.Trim());
        Assert.Empty((await targetClient.ListAsync()).Items);
        Assert.DoesNotContain((await targetClient.ListImagesAsync()).Items, i => i.Name.StartsWith("busybox", StringComparison.Ordinal));
        Assert.Equal(blobsBefore, BlobFiles(targetBlobs));
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(targetBlobs, ".."), ".import-*"));
    }

    private static string[] BlobFiles(string blobs) =>
        Directory.Exists(blobs) ? [.. Directory.EnumerateFiles(blobs, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)] : [];

    /// <summary>The image's blobs here (manifest, config, layers): what the move sends.</summary>
    private static long ImageBlobBytes(string root, ImageDetail image)
    {
        var blobs = Path.Combine(root, "images", "blobs", "sha256");
        return new[] { image.Image.ManifestDigest, image.Image.Id }.Concat(image.Layers.Select(l => l.Digest)).Distinct()
            .Sum(d => new FileInfo(Path.Combine(blobs, Hex(d))).Length);
    }

    private static string Hex(string digest) => digest["sha256:".Length..];
}
