using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using Strata.Contracts;
using Strata.Qemu.Guest;

namespace Strata.Qemu.Tests;

public sealed class GuestAssetsTests : IClassFixture<GuestAssetsFixture>
{
    private readonly GuestAssetsFixture _assets;

    public GuestAssetsTests(GuestAssetsFixture assets) => _assets = assets;

    [Fact]
    public async Task CpioWriter_Archive_IsReadByBusyboxCpio()
    {
        if (!File.Exists("/bin/busybox"))
        {
            Assert.False(TestEnvironment.IsCi, "busybox-static is missing");
            return;
        }
        using var dir = new TempDir();
        var archive = dir.Combine("a.cpio");
        await using (var f = File.Create(archive))
        {
            var w = new CpioWriter(f);
            w.AddDirectory("etc");
            w.AddFile("etc/hello", "hi there\n"u8, 0x1ED);
            w.AddFile("etc/odd", "x"u8);
            w.AddSymlink("etc/link", "hello");
            w.Finish();
        }
        Directory.CreateDirectory(dir.Combine("out"));
        var psi = new ProcessStartInfo("/bin/busybox") { WorkingDirectory = dir.Combine("out"), RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in new[] { "cpio", "-i", "-d", "-F", archive })
        {
            psi.ArgumentList.Add(a);
        }
        using (var p = Process.Start(psi)!)
        {
            p.StandardInput.Close();
            var err = await p.StandardError.ReadToEndAsync();
            await p.WaitForExitAsync();
            Assert.True(p.ExitCode == 0, err);
        }
        Assert.Equal("hi there\n", await File.ReadAllTextAsync(dir.Combine("out", "etc", "hello")));
        Assert.Equal("x", await File.ReadAllTextAsync(dir.Combine("out", "etc", "odd")));
        Assert.Equal("hello", new FileInfo(dir.Combine("out", "etc", "link")).LinkTarget);
        Assert.True(File.GetUnixFileMode(dir.Combine("out", "etc", "hello")).HasFlag(UnixFileMode.UserExecute));
    }

    [GuestFact]
    public async Task InitramfsBuilder_SameInputs_SameBytesAndCarriesInitBusyboxModules()
    {
        using var dir = new TempDir();
        var builder = new InitramfsBuilder(_assets.Kernel);
        await builder.BuildAsync(dir.Combine("a.gz"), CancellationToken.None);
        await builder.BuildAsync(dir.Combine("b.gz"), CancellationToken.None);
        Assert.Equal(await File.ReadAllBytesAsync(dir.Combine("a.gz")), await File.ReadAllBytesAsync(dir.Combine("b.gz")));

        var names = ListCpio(dir.Combine("a.gz"));
        Assert.Contains("init", names);
        Assert.Contains("bin/busybox", names);
        // Debian's cloud kernel builds these as modules; a kernel with them built in needs none.
        foreach (var m in builder.ModuleLoadOrder())
        {
            Assert.Contains($"lib/modules/{m}.ko", names);
        }
        var order = builder.ModuleLoadOrder().ToList();
        if (order.Contains("virtio_blk"))
        {
            Assert.True(order.IndexOf("virtio") < order.IndexOf("virtio_blk"), "dependencies load first");
            Assert.True(order.IndexOf("virtio_ring") < order.IndexOf("virtio"), "dependencies load first");
        }
    }

    [GuestFact]
    public async Task EnsureAsync_SecondCall_ReturnsCachedFile()
    {
        var builder = new InitramfsBuilder(_assets.Kernel);
        var first = await builder.EnsureAsync(_assets.CacheDirectory, CancellationToken.None);
        var written = File.GetLastWriteTimeUtc(first);
        var second = await builder.EnsureAsync(_assets.CacheDirectory, CancellationToken.None);
        Assert.Equal(first, second);
        Assert.Equal(written, File.GetLastWriteTimeUtc(second));
    }

    [Fact]
    public void InitramfsBuilder_MissingBusybox_SaysWhichPackage()
    {
        var builder = new InitramfsBuilder(new GuestKernelInfo("/nonexistent/vmlinuz", "0", null), "/nonexistent/busybox");
        var e = Assert.Throws<StrataException>(() => builder.ModuleLoadOrder());
        Assert.Equal(ErrorKind.Unavailable, e.Kind);
        Assert.Contains("busybox-static", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void GuestKernel_NoneInstalled_NamesThePackage()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<StrataException>(() => GuestKernel.Locate(null, dir.Path, dir.Path));
        Assert.Equal(ErrorKind.Unavailable, e.Kind);
        Assert.Contains("linux-image-cloud-amd64", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void GuestKernel_OverrideMissing_SaysSo()
    {
        var e = Assert.Throws<StrataException>(() => GuestKernel.Locate("/nonexistent/vmlinuz", "/boot", "/lib/modules"));
        Assert.Equal(ErrorKind.Unavailable, e.Kind);
        Assert.Contains("STRATA_GUEST_KERNEL", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void GuestKernel_SeveralInstalled_PicksNewest()
    {
        using var dir = new TempDir();
        foreach (var r in new[] { "6.1.0-9-cloud-amd64", "6.1.0-56-cloud-amd64", "5.10.0-30-cloud-amd64" })
        {
            File.WriteAllText(dir.Combine("vmlinuz-" + r), "");
        }
        var k = GuestKernel.Locate(null, dir.Path, dir.Path);
        Assert.Equal("6.1.0-56-cloud-amd64", k.Release);
        Assert.Null(k.ModulesDirectory);
    }

    [QemuFact]
    public async Task DiskBuilder_Ext4FromDirectory_IsCachedAndOverlayBacksOnIt()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.Combine("src", "etc"));
        await File.WriteAllTextAsync(dir.Combine("src", "etc", "marker"), "disk-root\n");
        var disks = new DiskBuilder(dir.Combine("cache"));
        var image = await disks.BuildExt4Async(dir.Combine("src"), "sha256-abc", null, CancellationToken.None);
        Assert.True(new FileInfo(image).Length >= 32L * 1024 * 1024);
        var again = await disks.BuildExt4Async(dir.Combine("src"), "sha256-abc", null, CancellationToken.None);
        Assert.Equal(image, again);

        // debugfs reads the image without mounting it: the file is really in the filesystem.
        var cat = await Run("debugfs", "-R", "cat /etc/marker", image);
        Assert.Equal("disk-root\n", cat);

        var overlay = dir.Combine("overlay.qcow2");
        await disks.CreateOverlayAsync(image, "raw", overlay, CancellationToken.None);
        var info = await Run("qemu-img", "info", "--output=json", overlay);
        Assert.Contains("\"backing-filename\": \"" + image + "\"", info, StringComparison.Ordinal);
        Assert.Contains("\"backing-filename-format\": \"raw\"", info, StringComparison.Ordinal);
    }

    [QemuFact]
    public async Task DiskBuilder_OverlaysAreCopiesOfOneQemuImgOverlay_PerBaseSizeAndDate()
    {
        using var dir = new TempDir();
        var image = dir.Combine("base.raw");
        await using (var f = File.Create(image))
        {
            f.SetLength(8L * 1024 * 1024);
        }
        var disks = new DiskBuilder(dir.Combine("cache"));
        await disks.CreateOverlayAsync(image, "raw", dir.Combine("a.qcow2"), CancellationToken.None);
        await disks.CreateOverlayAsync(image, "raw", dir.Combine("b.qcow2"), CancellationToken.None);
        Assert.Single(Directory.GetFiles(dir.Combine("cache", "overlays")));
        // The same bytes qemu-img writes for the same base, and two files: one overlay's writes never reach the other.
        await Run("qemu-img", "create", "-q", "-f", "qcow2", "-b", image, "-F", "raw", dir.Combine("direct.qcow2"));
        Assert.Equal(await File.ReadAllBytesAsync(dir.Combine("direct.qcow2")), await File.ReadAllBytesAsync(dir.Combine("b.qcow2")));
        await Run("qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 64k", dir.Combine("a.qcow2"));
        Assert.Matches(@"64 KiB \(0x10000\) bytes\s+allocated at offset 0", await Run("qemu-io", "-f", "qcow2", "-c", "map", dir.Combine("a.qcow2")));
        Assert.Equal(await File.ReadAllBytesAsync(dir.Combine("direct.qcow2")), await File.ReadAllBytesAsync(dir.Combine("b.qcow2")));

        // A base of another size (rebuilt in place) gets its own overlay with its own virtual size.
        await using (var f = File.OpenWrite(image))
        {
            f.SetLength(16L * 1024 * 1024);
        }
        await disks.CreateOverlayAsync(image, "raw", dir.Combine("c.qcow2"), CancellationToken.None);
        Assert.Equal(2, Directory.GetFiles(dir.Combine("cache", "overlays")).Length);
        Assert.Contains("\"virtual-size\": 16777216", await Run("qemu-img", "info", "--output=json", dir.Combine("c.qcow2")), StringComparison.Ordinal);
    }

    [QemuFact]
    public async Task DiskBuilder_CachedOverlays_ArePrivate_AndGoWithTheirBaseDisk()
    {
        using var dir = new TempDir();
        var disks = new DiskBuilder(dir.Combine("cache"));
        foreach (var name in new[] { "image-aaaa.ext4", "image-bbbb.ext4" })
        {
            await using var f = File.Create(dir.Combine(name));
            f.SetLength(8L * 1024 * 1024);
        }
        await disks.CreateOverlayAsync(dir.Combine("image-aaaa.ext4"), "raw", dir.Combine("a.qcow2"), CancellationToken.None);
        await disks.CreateOverlayAsync(dir.Combine("image-bbbb.ext4"), "raw", dir.Combine("b.qcow2"), CancellationToken.None);
        var overlays = dir.Combine("cache", DiskBuilder.OverlaysDirectory);
        Assert.Equal(Strata.Contracts.Host.PrivatePaths.DirectoryMode, File.GetUnixFileMode(overlays));
        Assert.All(Directory.GetFiles(overlays), f => Assert.Equal(Strata.Contracts.Host.PrivatePaths.FileMode, File.GetUnixFileMode(f)));

        // One image's removal takes its base's overlay only; a prune takes the rest; the next overlay is made again.
        Assert.True(disks.RemoveEmptyOverlays("image-aaaa") > 0);
        Assert.Single(Directory.GetFiles(overlays), f => Path.GetFileName(f).StartsWith("image-bbbb-", StringComparison.Ordinal));
        Assert.True(disks.RemoveEmptyOverlays(null) > 0);
        Assert.Empty(Directory.GetFiles(overlays));
        await disks.CreateOverlayAsync(dir.Combine("image-aaaa.ext4"), "raw", dir.Combine("c.qcow2"), CancellationToken.None);
        Assert.Equal(await File.ReadAllBytesAsync(dir.Combine("a.qcow2")), await File.ReadAllBytesAsync(dir.Combine("c.qcow2")));
    }

    [Fact]
    public async Task DiskBuilder_BadKey_ThrowsInvalidArgument()
    {
        using var dir = new TempDir();
        var e = await Assert.ThrowsAsync<StrataException>(() => new DiskBuilder(dir.Path).BuildExt4Async(dir.Path, "../x", null, CancellationToken.None));
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
    }

    private static async Task<string> Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEndAsync();
        var error = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        Assert.True(p.ExitCode == 0, $"{file} failed: {await error}");
        return await output;
    }

    // Reads names from a gzip'd newc archive (the parser the kernel uses has the same rules).
    private static List<string> ListCpio(string path)
    {
        using var gz = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using var ms = new MemoryStream();
        gz.CopyTo(ms);
        var data = ms.ToArray();
        var names = new List<string>();
        var pos = 0;
        while (true)
        {
            var header = Encoding.ASCII.GetString(data, pos, 110);
            Assert.StartsWith("070701", header, StringComparison.Ordinal);
            int Field(int i) => Convert.ToInt32(header.Substring(6 + i * 8, 8), 16);
            var size = Field(6);
            var nameSize = Field(11);
            var name = Encoding.UTF8.GetString(data, pos + 110, nameSize - 1);
            if (name == "TRAILER!!!")
            {
                return names;
            }
            names.Add(name);
            pos = Align(pos + 110 + nameSize);
            pos = Align(pos + size);
        }
        static int Align(int v) => (v + 3) & ~3;
    }
}
