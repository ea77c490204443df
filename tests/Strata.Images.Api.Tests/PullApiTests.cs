using Strata.Client;
using Strata.Contracts;
using Strata.Images.Registry;
using Strata.Testing;
using Strata.Images.Tests;
using Xunit;

namespace Strata.Images.Api.Tests;

/// <summary>Pulls through the API from a real docker-registry on loopback, as operations.</summary>
public sealed class PullApiTests : IDisposable
{
    private readonly TempDir _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>Builds busybox in a separate store and pushes it to <paramref name="registry"/> as strata/busybox:1.</summary>
    private async Task<ImageInfo> PushBusyboxAsync(RealRegistry registry)
    {
        var source = new ImageStore(_temp.Sub("source"));
        var image = await source.BuildBusyboxBaseAsync(busyboxPath: Tools.Require("/bin/busybox", "busybox-static"));
        await source.PushAsync("busybox:latest", $"{registry.Host}/strata/busybox:1", new RegistryOptions { InsecureRegistries = [registry.Host] });
        return image;
    }

    [SkippableFact]
    public async Task Pull_RealRegistryMarkedInsecureByDaemon_ProgressEventsThenSucceeded()
    {
        using var registry = new RealRegistry();
        var pushed = await PushBusyboxAsync(registry);
        await using var api = await ApiFixture.StartAsync(insecureRegistries: [registry.Host]);

        var reference = $"{registry.Host}/strata/busybox:1";
        var operation = await api.Client.PullImageAsync(new PullImageRequest { Reference = reference });
        Assert.Equal("image-pull", operation.Kind);
        Assert.Equal(reference, operation.Target);

        var events = new List<OperationEvent>();
        await foreach (var e in api.Client.WatchOperationAsync(operation.Id))
        {
            events.Add(e);
        }
        Assert.NotNull(events[0].Operation);
        var final = events[^1].Operation!;
        Assert.Equal("succeeded", final.Status);
        var items = events.Where(e => e.Item is not null).Select(e => e.Item!).ToList();
        Assert.Contains(items, i => i.Kind == "layer" && i.Phase == "done" && i.Current > 100_000);
        Assert.Contains(items, i => i.Kind == "layer" && i.Phase == "unpacked");
        Assert.Contains(final.Progress.Items, i => i.Kind == "config");
        Assert.Equal(final.Progress.Total, final.Progress.Current);

        var result = System.Text.Json.JsonSerializer.Deserialize(final.Result!.Value, StrataJsonContext.Default.ImageSummary)!;
        Assert.Equal(pushed.Id.ToString(), result.Id);
        Assert.Equal(pushed.ManifestDigest.ToString(), result.ManifestDigest);
        Assert.Contains((await api.Client.ListImagesAsync()).Items, i => i.Name == reference);

        // The finished operation stays listed, can be waited for, and cannot be cancelled any more.
        Assert.Contains((await api.Client.ListOperationsAsync()).Items, o => o.Id == operation.Id && o.Status == "succeeded");
        Assert.Equal("succeeded", (await api.Client.WaitOperationAsync(operation.Id)).Status);
        var late = await Assert.ThrowsAsync<StrataApiException>(() => api.Client.CancelOperationAsync(operation.Id));
        Assert.Equal(409, late.Status);
    }

    [SkippableFact]
    public async Task PullAndWait_InsecureFlagInRequest_ReturnsImage()
    {
        using var registry = new RealRegistry();
        var pushed = await PushBusyboxAsync(registry);
        await using var api = await ApiFixture.StartAsync();
        var image = await api.Client.PullImageAndWaitAsync(new PullImageRequest { Reference = $"{registry.Host}/strata/busybox:1", Insecure = true });
        Assert.Equal(pushed.Id.ToString(), image.Id);
        Assert.Equal(pushed.Id.ToString(), (await api.Client.InspectImageAsync($"{registry.Host}/strata/busybox:1")).Image.Id);
    }

    [SkippableFact]
    public async Task Pull_PlainHttpRegistryNotMarkedInsecure_FailsNamingTheOption()
    {
        using var registry = new RealRegistry();
        await PushBusyboxAsync(registry);
        await using var api = await ApiFixture.StartAsync();
        var reference = $"{registry.Host}/strata/busybox:1";

        var waited = await Assert.ThrowsAsync<StrataApiException>(() => api.Client.PullImageAndWaitAsync(new PullImageRequest { Reference = reference }));
        Assert.Contains("--insecure-registry " + registry.Host, waited.Message, StringComparison.Ordinal);

        var operation = await api.Client.PullImageAsync(new PullImageRequest { Reference = reference });
        var final = await api.Client.WaitOperationAsync(operation.Id);
        Assert.Equal("failed", final.Status);
        Assert.Contains("--insecure-registry", final.Error!.Detail, StringComparison.Ordinal);
        Assert.Empty((await api.Client.ListImagesAsync()).Items);
    }

    [SkippableFact]
    public async Task Pull_CancelledMidDownload_CancelledAndNothingPartialLeft()
    {
        using var registry = new RealRegistry();
        // A 6 MiB incompressible layer behind a 1 MiB/s link: the download takes seconds.
        var source = new ImageStore(_temp.Sub("source"));
        var rootfs = _temp.Sub("rootfs");
        var noise = new byte[6 << 20];
        Random.Shared.NextBytes(noise);
        File.WriteAllBytes(Path.Combine(rootfs, "noise.bin"), noise);
        var big = await source.ImportRootfsAsync(rootfs, "big:1");
        await source.PushAsync("big:1", $"{registry.Host}/strata/big:1", new RegistryOptions { InsecureRegistries = [registry.Host] });
        using var proxy = new SlowProxy(registry.Port, bytesPerSecond: 1 << 20);

        await using var api = await ApiFixture.StartAsync();
        var reference = $"{proxy.Host}/strata/big:1";
        var operation = await api.Client.PullImageAsync(new PullImageRequest { Reference = reference, Insecure = true });

        OperationInfo? cancelled = null;
        OperationInfo? final = null;
        await foreach (var e in api.Client.WatchOperationAsync(operation.Id))
        {
            if (cancelled is null && e.Item is { Kind: "layer", Phase: "downloading", Current: > 0 })
            {
                cancelled = await api.Client.CancelOperationAsync(operation.Id);
            }
            final = e.Operation ?? final;
        }
        Assert.NotNull(cancelled);
        Assert.Equal("cancelled", cancelled.Status);
        Assert.Equal("cancelled", final!.Status);
        Assert.Equal("cancelled", final.Error!.Kind);
        Assert.Null(final.Result);

        // No name, no in-flight download or unpack, and the layer's blob was never stored.
        Assert.Empty((await api.Client.ListImagesAsync()).Items);
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(api.ImagesRoot, "blobs", ".tmp")));
        Assert.Empty(Directory.EnumerateDirectories(Path.Combine(api.ImagesRoot, "layers")));
        var layer = Assert.Single(source.Inspect(big.Name).Layers);
        Assert.False(File.Exists(Path.Combine(api.ImagesRoot, "blobs", "sha256", layer.Digest.Hex)), "the cancelled layer's blob was kept");
    }

    [SkippableFact]
    public async Task Operations_UnknownId_404()
    {
        await using var api = await ApiFixture.StartAsync();
        var e = await Assert.ThrowsAsync<StrataApiException>(() => api.Client.GetOperationAsync("nope"));
        Assert.Equal(404, e.Status);
        Assert.Empty((await api.Client.ListOperationsAsync()).Items);
    }
}
