using Strata.Contracts;
using Strata.Images.Oci;
using Xunit;

namespace Strata.Images.Tests;

public sealed class ImageStoreTests : IDisposable
{
    private readonly TempDir _temp = new();
    private readonly ImageStore _store;

    public ImageStoreTests() => _store = new ImageStore(_temp.Sub("root"));

    public void Dispose() => _temp.Dispose();

    private static byte[] HelloLayer() => new TarBuilder().Dir("bin/").File("bin/hello", "#!/bin/sh\necho hi\n", 0b111_101_101).Dir("srv/").Build();

    [SkippableFact]
    public async Task BuildBusyboxBase_TwoStores_SameDigestsAndAppletsPresent()
    {
        var busybox = Tools.Require("/bin/busybox", "busybox-static");
        var first = await _store.BuildBusyboxBaseAsync(busyboxPath: busybox);
        using var other = new TempDir();
        var second = await new ImageStore(other.Path).BuildBusyboxBaseAsync(busyboxPath: busybox);
        Assert.Equal(first.ManifestDigest, second.ManifestDigest);
        Assert.Equal("busybox:latest", first.Name);

        var rootfs = await _store.PrepareRootfsLayersAsync("busybox");
        var layer = Assert.Single(rootfs.LayerDirs);
        Assert.Equal("busybox", new FileInfo(Path.Combine(layer, "bin", "sh")).LinkTarget);
        Assert.Equal("busybox", new FileInfo(Path.Combine(layer, "bin", "ls")).LinkTarget);
        Assert.StartsWith("root:x:0:0:", File.ReadAllText(Path.Combine(layer, "etc", "passwd")), StringComparison.Ordinal);
        foreach (var dir in new[] { "tmp", "proc", "sys", "dev" })
        {
            Assert.True(Directory.Exists(Path.Combine(layer, dir)), dir);
        }
        Assert.Equal(["sh"], rootfs.Config.Cmd);
        Assert.Contains(rootfs.Config.Env, e => e.StartsWith("PATH=", StringComparison.Ordinal));
        // The unpacked busybox really runs.
        Assert.Contains("BusyBox", Tools.Run(Path.Combine(layer, "bin", "busybox"), "--help").Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ImportArchive_DockerSave_ImportedWithConfig()
    {
        var path = Path.Combine(_temp.Path, "save.tar");
        ArchiveBuilder.DockerSave(path, HelloLayer(), "example.com/hello:1");
        var images = await _store.ImportArchiveAsync(path);
        var image = Assert.Single(images);
        Assert.Equal("example.com/hello:1", image.Name);
        var rootfs = await _store.PrepareRootfsLayersAsync("example.com/hello:1");
        Assert.True(File.Exists(Path.Combine(rootfs.LayerDirs[0], "bin", "hello")));
        Assert.Equal(["/bin/hello"], rootfs.Config.Cmd);
        Assert.Equal("/srv", rootfs.Config.WorkingDir);
        Assert.Equal("1000:1000", rootfs.Config.User);
        Assert.Equal("yes", rootfs.Config.Labels["org.example"]);
        // manifest.json, repositories, VERSION are not kept as blobs: config + layer + manifest only.
        Assert.Equal(3, _store.Blobs.List().Count());
    }

    [Fact]
    public async Task ImportArchive_OciLayout_NamedFromAnnotation()
    {
        var layer = HelloLayer();
        var path = Path.Combine(_temp.Path, "oci.tar");
        ArchiveBuilder.OciLayout(path, ArchiveBuilder.ConfigJson("amd64", [Digest.Compute(layer)]), [(layer, MediaTypes.OciLayer)], "docker.io/library/hello:2");
        var image = Assert.Single(await _store.ImportArchiveAsync(path));
        Assert.Equal("hello:2", image.Name);
        Assert.Equal(ImageKind.Oci, image.Kind);
        Assert.Equal("hello:2", Assert.Single(_store.List()).Name);
    }

    [Fact]
    public async Task ImportArchive_OciLayoutBlobNotMatchingItsName_Refused()
    {
        var layer = HelloLayer();
        var path = Path.Combine(_temp.Path, "oci.tar");
        ArchiveBuilder.OciLayout(path, ArchiveBuilder.ConfigJson("amd64", [Digest.Compute(layer)]), [(layer, MediaTypes.OciLayer)], "hello:2");
        var bytes = File.ReadAllBytes(path);
        var at = bytes.AsSpan().IndexOf("echo hi"u8);
        bytes[at] = (byte)'E';
        File.WriteAllBytes(path, bytes);
        var e = await Assert.ThrowsAsync<StrataException>(() => _store.ImportArchiveAsync(path));
        Assert.Contains("corrupted", e.Message, StringComparison.Ordinal);
        Assert.Empty(_store.List());
        Assert.Empty(_store.Blobs.List());
    }

    [Fact]
    public async Task ImportArchive_WasmArtifact_KindWasmAndModulePath()
    {
        var module = "\0asm\u0001\0\0\0"u8.ToArray();
        var config = "{}"u8.ToArray();
        var path = Path.Combine(_temp.Path, "wasm.tar");
        ArchiveBuilder.OciLayout(path, config, [(module, MediaTypes.Wasm)], "127.0.0.1:5000/wasm/hello:1", MediaTypes.WasmConfig);
        var image = Assert.Single(await _store.ImportArchiveAsync(path));
        Assert.Equal(ImageKind.Wasm, image.Kind);
        var modulePath = await _store.GetWasmModulePathAsync("127.0.0.1:5000/wasm/hello:1");
        Assert.Equal(module, File.ReadAllBytes(modulePath));
        await Assert.ThrowsAsync<StrataException>(() => _store.PrepareRootfsLayersAsync("127.0.0.1:5000/wasm/hello:1"));
    }

    [Fact]
    public async Task ImportRootfs_Directory_SingleLayerDefaultConfig()
    {
        var dir = _temp.Sub("rootfs");
        Directory.CreateDirectory(Path.Combine(dir, "etc"));
        File.WriteAllText(Path.Combine(dir, "etc", "os-release"), "ID=strata\n");
        File.CreateSymbolicLink(Path.Combine(dir, "link"), "/etc/os-release");
        var image = await _store.ImportRootfsAsync(dir, "myroot:1");
        var rootfs = await _store.PrepareRootfsLayersAsync(image.Name);
        Assert.Equal("ID=strata\n", File.ReadAllText(Path.Combine(rootfs.LayerDirs[0], "etc", "os-release")));
        Assert.Equal("/etc/os-release", new FileInfo(Path.Combine(rootfs.LayerDirs[0], "link")).LinkTarget);
        Assert.Equal(["sh"], rootfs.Config.Cmd);
    }

    [Fact]
    public async Task ImportRootfs_LayerDoesNotUnpack_LeavesNoBlobLayerOrName()
    {
        var dir = _temp.Sub("rootfs-ok");
        File.WriteAllText(Path.Combine(dir, "hello"), "hi\n");
        await _store.ImportRootfsAsync(dir, "good:1");
        var root = Path.Combine(_temp.Path, "root");
        string[] Files(string sub) => [.. Directory.EnumerateFileSystemEntries(Path.Combine(root, sub), "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)];
        var (blobs, layers) = (Files("blobs"), Files("layers"));
        var bad = Path.Combine(_temp.Path, "bad.tar");
        File.WriteAllText(bad, string.Concat(Enumerable.Repeat("this is not a tar archive; ", 200)));

        var log = new Strata.Testing.RecordingLogger<ImageStore>();
        var store = new ImageStore(root, logger: log);

        await Assert.ThrowsAnyAsync<Exception>(() => store.ImportRootfsAsync(bad, "bad:1"));

        // The layer, config and manifest blobs the failed import wrote are gone again; what was there stays.
        Assert.Equal(blobs, Files("blobs"));
        Assert.Equal(layers, Files("layers"));
        Assert.Equal(["good:1"], _store.List().Select(i => i.Name));
        // The failure is logged naming the layer blob; no image was recorded as stored.
        Assert.Matches("^layer sha256:[0-9a-f]{64} could not be unpacked", Assert.Single(log.WithId(5005)).Message);
        Assert.Empty(log.WithId(5001));
    }

    [Fact]
    public async Task ImportRootfs_NamesFileAndStoreDirectories_ArePrivateWhateverTheUmask()
    {
        var dir = _temp.Sub("rootfs-private");
        File.WriteAllText(Path.Combine(dir, "hello"), "hi\n");
        await _store.ImportRootfsAsync(dir, "private:1");

        var root = Path.Combine(_temp.Path, "root");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(root, "images.json")));
        foreach (var sub in new[] { "layers", "blobs", "blobs/sha256", "blobs/.tmp" })
        {
            var mode = File.GetUnixFileMode(Path.Combine(root, sub));
            Assert.True(mode == (UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute), $"{sub} is {mode}");
        }
    }

    [Fact]
    public async Task ImportRootfs_Stored_LoggedWithNameAndManifest()
    {
        var dir = _temp.Sub("rootfs-logged");
        File.WriteAllText(Path.Combine(dir, "hello"), "hi\n");
        var log = new Strata.Testing.RecordingLogger<ImageStore>();
        var store = new ImageStore(Path.Combine(_temp.Path, "root"), logger: log);

        var image = await store.ImportRootfsAsync(dir, "logged:1");

        var line = Assert.Single(log.WithId(5001));
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Information, line.Level);
        Assert.Equal($"image logged:1 stored: manifest {image.ManifestDigest}, Oci, layers: 1", line.Message);
        Assert.Single(log.WithId(5004)); // its one layer was unpacked
    }

    [Fact]
    public async Task TagRemoveGc_InUseRefusedThenForcedAndCollected()
    {
        var path = Path.Combine(_temp.Path, "save.tar");
        ArchiveBuilder.DockerSave(path, HelloLayer(), "hello:1");
        var image = Assert.Single(await _store.ImportArchiveAsync(path));
        _store.Tag("hello:1", "127.0.0.1:5000/team/hello:prod");
        Assert.Equal(new[] { "127.0.0.1:5000/team/hello:prod", "hello:1" }, _store.Inspect(image.Id.Short).Names);

        // Removing one of two names is fine even while in use: the image stays.
        _store.Remove("hello:1", isInUse: _ => true);
        var e = Assert.Throws<StrataException>(() => _store.Remove("127.0.0.1:5000/team/hello:prod", isInUse: i => i.Id == image.Id));
        Assert.Equal(ErrorKind.Conflict, e.Kind);
        Assert.Contains("in use", e.Message, StringComparison.Ordinal);
        Assert.Single(_store.List());

        var layerDir = (await _store.PrepareRootfsLayersAsync("127.0.0.1:5000/team/hello:prod")).LayerDirs[0];
        Assert.Equal(0, _store.GarbageCollect().BlobsRemoved);
        _store.Remove("127.0.0.1:5000/team/hello:prod", force: true, isInUse: _ => true);
        Assert.Empty(_store.List());
        var gc = _store.GarbageCollect();
        Assert.Equal(3, gc.BlobsRemoved);
        Assert.Equal(1, gc.LayersRemoved);
        Assert.Empty(_store.Blobs.List());
        Assert.False(Directory.Exists(layerDir));
    }

    [Fact]
    public async Task Verify_CorruptedLayerBlob_RefusedNamingDigest()
    {
        var layer = HelloLayer();
        var path = Path.Combine(_temp.Path, "save.tar");
        ArchiveBuilder.DockerSave(path, layer, "hello:1");
        await _store.ImportArchiveAsync(path);
        var digest = Digest.Compute(layer);
        await _store.VerifyAsync("hello:1");
        var blobPath = _store.Blobs.PathOf(digest);
        var bytes = File.ReadAllBytes(blobPath);
        bytes[600] ^= 0xff;
        File.WriteAllBytes(blobPath, bytes);
        var e = await Assert.ThrowsAsync<StrataException>(() => _store.VerifyAsync("hello:1"));
        Assert.Contains(digest.ToString(), e.Message, StringComparison.Ordinal);
        // An unpack from a corrupted blob is refused too (the layer directory is gone, e.g. after gc).
        Directory.Delete(_store.LayerPath(digest), recursive: true);
        var unpack = await Assert.ThrowsAsync<StrataException>(() => _store.PrepareRootfsLayersAsync("hello:1"));
        Assert.Contains(digest.ToString(), unpack.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_store.LayerPath(digest)));
    }

    [SkippableFact]
    public async Task Import_DiskFullDuringUnpack_ClearErrorNoPartialLayerNextWorks()
    {
        Skip.IfNot(Tools.IsRoot, "mounting a tmpfs needs root");
        var mount = _temp.Sub("small");
        var (code, output) = Tools.Run("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mount);
        Assert.True(code == 0, output);
        try
        {
            // No free-space reserve (the default keeps 1 GiB, which this 2 MiB disk never has): the disk really fills up.
            var store = new ImageStore(Path.Combine(mount, "root")) { UnpackLimits = new Layers.UnpackLimits { MinFreeBytes = 0 } };
            // 3 MiB of zeros: a tiny blob that does not fit once unpacked.
            var big = new TarBuilder().File("big", new string('\0', 3 << 20)).Build();
            var path = Path.Combine(_temp.Path, "big.tar");
            var gz = new MemoryStream();
            using (var z = new System.IO.Compression.GZipStream(gz, System.IO.Compression.CompressionLevel.Optimal, leaveOpen: true))
            {
                z.Write(big);
            }
            ArchiveBuilder.OciLayout(path, ArchiveBuilder.ConfigJson("amd64", [Digest.Compute(big)]), [(gz.ToArray(), MediaTypes.OciLayerGzip)], "big:1");
            var e = await Assert.ThrowsAsync<StrataException>(() => store.ImportArchiveAsync(path));
            Assert.Equal(ErrorKind.Unavailable, e.Kind);
            Assert.Contains("no space left on device", e.Message, StringComparison.Ordinal);
            Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(mount, "root", "layers")));
            Assert.Empty(store.List());
            Assert.Empty(store.Blobs.List());

            var small = Path.Combine(_temp.Path, "small.tar");
            ArchiveBuilder.DockerSave(small, HelloLayer(), "hello:1");
            Assert.Single(await store.ImportArchiveAsync(small));
        }
        finally
        {
            Tools.Run("umount", mount);
        }
    }
}
