using System.Text.Json;
using Strata.Contracts;
using Strata.Images.Oci;
using Strata.Images.Registry;
using Strata.Testing;
using Xunit;

namespace Strata.Images.Tests;

/// <summary>Pulls and pushes against a real docker-registry on loopback.</summary>
public sealed class RegistryTests : IDisposable
{
    private readonly TempDir _temp = new();

    public void Dispose() => _temp.Dispose();

    private async Task<(ImageStore Store, ImageInfo Image)> BusyboxAsync()
    {
        var store = new ImageStore(_temp.Sub("source"));
        var image = await store.BuildBusyboxBaseAsync(busyboxPath: Tools.Require("/bin/busybox", "busybox-static"));
        return (store, image);
    }

    private static RegistryOptions Insecure(RealRegistry registry) => new() { InsecureRegistries = [registry.Host] };

    private sealed class ListProgress : IProgress<PullProgress>
    {
        public List<PullProgress> Items { get; } = [];
        public void Report(PullProgress value)
        {
            lock (Items)
            {
                Items.Add(value);
            }
        }
    }

    [SkippableFact]
    public async Task PushThenPull_AnonymousRealRegistry_SameImageAndRootfs()
    {
        using var registry = new RealRegistry();
        var (source, image) = await BusyboxAsync();
        var remote = $"{registry.Host}/strata/busybox:1";
        await source.PushAsync("busybox:latest", remote, Insecure(registry));

        var store = new ImageStore(_temp.Sub("dest"));
        var progress = new ListProgress();
        var pulled = await store.PullAsync(remote, Insecure(registry), progress);
        Assert.Equal(image.ManifestDigest, pulled.ManifestDigest);
        Assert.Equal(image.Id, pulled.Id);
        Assert.Equal($"{registry.Host}/strata/busybox:1", pulled.Name);
        Assert.Contains(progress.Items, p => p.Kind == "layer" && p.Phase == PullPhase.Done && p.Current > 100_000);
        Assert.Contains(progress.Items, p => p.Phase == PullPhase.Unpacked);
        var rootfs = await store.PrepareRootfsLayersAsync(remote);
        Assert.True(File.Exists(Path.Combine(rootfs.LayerDirs[0], "bin", "busybox")));
        await store.VerifyAsync(remote);

        // By digest, too.
        var byDigest = await store.PullAsync($"{registry.Host}/strata/busybox@{image.ManifestDigest}", Insecure(registry));
        Assert.Equal(image.ManifestDigest, byDigest.ManifestDigest);
    }

    [SkippableFact]
    public async Task Pull_PlainHttpRegistryWithoutInsecureMark_RefusedSayingHow()
    {
        using var registry = new RealRegistry();
        var store = new ImageStore(_temp.Sub("dest"));
        var e = await Assert.ThrowsAsync<StrataException>(() => store.PullAsync($"{registry.Host}/strata/busybox:1"));
        Assert.Contains("--insecure-registry " + registry.Host, e.Message, StringComparison.Ordinal);
        Assert.Contains("HTTPS", e.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Pull_LayerCorruptedInRegistry_RefusedNothingLeftThenRepullHeals()
    {
        using var registry = new RealRegistry();
        var (source, image) = await BusyboxAsync();
        var remote = $"{registry.Host}/strata/busybox:1";
        await source.PushAsync("busybox:latest", remote, Insecure(registry));
        var layer = source.Inspect("busybox").Layers[0].Digest;
        var data = registry.BlobDataPath(layer);
        var original = File.ReadAllBytes(data);
        var bad = (byte[])original.Clone();
        bad[bad.Length / 2] ^= 0xff;
        File.WriteAllBytes(data, bad);

        var root = _temp.Sub("dest");
        var store = new ImageStore(root);
        var e = await Assert.ThrowsAsync<StrataException>(() => store.PullAsync(remote, Insecure(registry)));
        Assert.Contains(layer.ToString(), e.Message, StringComparison.Ordinal);
        Assert.False(store.Blobs.Exists(layer));
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(root, "blobs", ".tmp")));
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(root, "layers")));
        Assert.Empty(store.List());

        File.WriteAllBytes(data, original);
        var pulled = await store.PullAsync(remote, Insecure(registry));
        Assert.Equal(image.ManifestDigest, pulled.ManifestDigest);

        // A blob corrupted locally is detected, and the next pull re-fetches it.
        var local = File.ReadAllBytes(store.Blobs.PathOf(layer));
        local[1000] ^= 0xff;
        File.WriteAllBytes(store.Blobs.PathOf(layer), local);
        var verify = await Assert.ThrowsAsync<StrataException>(() => store.VerifyAsync(remote));
        Assert.Contains(layer.ToString(), verify.Message, StringComparison.Ordinal);
        await store.PullAsync(remote, Insecure(registry));
        await store.VerifyAsync(remote);
    }

    [SkippableFact]
    public async Task Pull_MultiArchIndex_PicksLinuxAmd64()
    {
        using var registry = new RealRegistry();
        var (source, image) = await BusyboxAsync();
        var repo = "strata/multi";
        await source.PushAsync("busybox:latest", $"{registry.Host}/{repo}:amd64", Insecure(registry));

        // A second, arm64 manifest over the same layer, then an index naming both (arm64 listed first).
        var details = source.Inspect("busybox");
        var armConfig = ArchiveBuilder.ConfigJson("arm64", [details.Layers[0].DiffId!.Value], ["sh"]);
        using var client = new RegistryClient(registry.Host, Insecure(registry));
        await client.PushBlobAsync(repo, Digest.Compute(armConfig), () => new MemoryStream(armConfig), armConfig.Length, default);
        var armManifest = JsonSerializer.SerializeToUtf8Bytes(new ImageManifest
        {
            MediaType = MediaTypes.OciManifest,
            Config = new Descriptor { MediaType = MediaTypes.OciConfig, Digest = Digest.Compute(armConfig).ToString(), Size = armConfig.Length },
            Layers = [new Descriptor { MediaType = details.Layers[0].MediaType, Digest = details.Layers[0].Digest.ToString(), Size = details.Layers[0].Size }],
        }, OciJsonContext.Default.ImageManifest);
        await client.PutManifestAsync(repo, "arm64", armManifest, MediaTypes.OciManifest, default);
        var amdManifest = source.Blobs.ReadAllBytes(image.ManifestDigest);
        var index = JsonSerializer.SerializeToUtf8Bytes(new ImageIndex
        {
            MediaType = MediaTypes.OciIndex,
            Manifests =
            [
                new Descriptor { MediaType = MediaTypes.OciManifest, Digest = Digest.Compute(armManifest).ToString(), Size = armManifest.Length, Platform = new Platform { Os = "linux", Architecture = "arm64", Variant = "v8" } },
                new Descriptor { MediaType = MediaTypes.OciManifest, Digest = image.ManifestDigest.ToString(), Size = amdManifest.Length, Platform = new Platform { Os = "linux", Architecture = "amd64" } },
            ],
        }, OciJsonContext.Default.ImageIndex);
        await client.PutManifestAsync(repo, "multi", index, MediaTypes.OciIndex, default);

        var store = new ImageStore(_temp.Sub("dest"));
        var pulled = await store.PullAsync($"{registry.Host}/{repo}:multi", Insecure(registry) with { Platform = new Platform { Os = "linux", Architecture = "amd64" } });
        Assert.Equal(image.ManifestDigest, pulled.ManifestDigest);
        Assert.Equal(Digest.Compute(index), pulled.IndexDigest);
        Assert.Equal("amd64", pulled.Architecture);

        var arm = await new ImageStore(_temp.Sub("arm")).PullAsync($"{registry.Host}/{repo}:multi", Insecure(registry) with { Platform = new Platform { Os = "linux", Architecture = "arm64" } });
        Assert.Equal(Digest.Compute(armManifest), arm.ManifestDigest);
        var none = await Assert.ThrowsAsync<StrataException>(() => new ImageStore(_temp.Sub("s390")).PullAsync($"{registry.Host}/{repo}:multi",
            Insecure(registry) with { Platform = new Platform { Os = "linux", Architecture = "s390x" } }));
        Assert.Contains("linux/s390x", none.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task PushPull_TokenAuthRealRegistry_WorksWithCredentialsRefusedWithout()
    {
        using var tokens = new TokenServer("alice", "s3cret");
        using var registry = new RealRegistry(tokens);
        var (source, image) = await BusyboxAsync();
        var remote = $"{registry.Host}/foo/bar:1";
        var good = Insecure(registry) with { Username = "alice", Password = "s3cret" };
        await source.PushAsync("busybox:latest", remote, good);

        var store = new ImageStore(_temp.Sub("dest"));
        var pulled = await store.PullAsync(remote, good);
        Assert.Equal(image.ManifestDigest, pulled.ManifestDigest);
        Assert.True(tokens.Issued >= 2);

        var wrongPassword = await Assert.ThrowsAsync<StrataException>(() =>
            new ImageStore(_temp.Sub("d2")).PullAsync(remote, good with { Password = "wrong" }));
        Assert.Equal(ErrorKind.Unauthorized, wrongPassword.Kind);
        Assert.StartsWith($"registry {registry.Host} refused the credentials for foo/bar: ", wrongPassword.Message, StringComparison.Ordinal);
        Assert.Contains("check --username/--password or the token", wrongPassword.Message, StringComparison.Ordinal);

        var anonymous = await Assert.ThrowsAsync<StrataException>(() => new ImageStore(_temp.Sub("d3")).PullAsync(remote, Insecure(registry)));
        Assert.Equal(ErrorKind.Unauthorized, anonymous.Kind);

        var forged = await Assert.ThrowsAsync<StrataException>(() =>
            new ImageStore(_temp.Sub("d4")).PullAsync(remote, Insecure(registry) with { BearerToken = "not.a.jwt" }));
        Assert.Equal(ErrorKind.Unauthorized, forged.Kind);
        Assert.Contains("refused the credentials for foo/bar", forged.Message, StringComparison.Ordinal);
    }
}
