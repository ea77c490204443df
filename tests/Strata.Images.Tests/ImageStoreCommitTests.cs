using System.Formats.Tar;
using Xunit;

namespace Strata.Images.Tests;

/// <summary>Commit (a container's writable layer becomes an image) and what garbage collection keeps.</summary>
public sealed class ImageStoreCommitTests : IDisposable
{
    /// <summary>The diff_id of the empty layer: a tar of nothing but its two end-of-archive records.</summary>
    private const string EmptyLayerDiffId = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

    private readonly TempDir _temp = new();
    private readonly ImageStore _store;

    public ImageStoreCommitTests() => _store = new ImageStore(_temp.Sub("root"));

    public void Dispose() => _temp.Dispose();

    private async Task<ImageInfo> BaseAsync()
    {
        var dir = _temp.Sub("base");
        Directory.CreateDirectory(Path.Combine(dir, "etc"));
        File.WriteAllText(Path.Combine(dir, "etc", "os-release"), "ID=strata\n");
        return await _store.ImportRootfsAsync(dir, "base:1");
    }

    [Fact]
    public async Task CommitLayer_UnchangedContainer_AddsTheEmptyLayerAndTheImageRuns()
    {
        var image = await BaseAsync();
        var upper = _temp.Sub("upper"); // nothing written: the container changed nothing

        var committed = await _store.CommitLayerAsync("base:1", upper, "same:1", ["sh"]);

        var details = _store.Inspect("same:1");
        Assert.Equal(2, details.Layers.Count);
        Assert.Equal(EmptyLayerDiffId, details.Layers[^1].DiffId.ToString());
        Assert.NotEqual(image.Id, committed.Id);
        // The layer is a valid archive: it unpacks (to nothing) and the image's root is the base's.
        var rootfs = await _store.PrepareRootfsLayersAsync("same:1");
        Assert.Empty(Directory.EnumerateFileSystemEntries(rootfs.LayerDirs[^1]));
        Assert.Equal("ID=strata\n", File.ReadAllText(Path.Combine(rootfs.LayerDirs[0], "etc", "os-release")));
        await _store.VerifyAsync("same:1");
        await using var blob = _store.Blobs.OpenRead(details.Layers[^1].Digest);
        await using var tar = new System.IO.Compression.GZipStream(blob, System.IO.Compression.CompressionMode.Decompress);
        using var reader = new TarReader(tar);
        Assert.Null(await reader.GetNextEntryAsync());
    }

    [Fact]
    public async Task GarbageCollect_UnnamedLayersAnInstanceStandsOn_AreKeptAndCounted_ThenFreed()
    {
        await BaseAsync();
        var layers = (await _store.PrepareRootfsLayersAsync("base:1")).LayerDirs;
        _store.Remove("base:1", force: true);

        var kept = _store.GarbageCollect(dir => layers.Contains(dir));
        Assert.Equal(0, kept.LayersRemoved);
        Assert.Equal(layers.Count, kept.LayersInUse);
        Assert.All(layers, l => Assert.True(File.Exists(Path.Combine(l, "etc", "os-release"))));

        var freed = _store.GarbageCollect(_ => false);
        Assert.Equal(layers.Count, freed.LayersRemoved);
        Assert.Equal(0, freed.LayersInUse);
        Assert.All(layers, l => Assert.False(Directory.Exists(l)));
    }
}
