using System.Text;
using Strata.Contracts;
using Strata.Images.Layers;
using Xunit;

namespace Strata.Images.Tests;

/// <summary>
/// The classic breakouts (CVE-2014-6407, CVE-2014-9356, CVE-2021-32760 shapes): every one must be refused or
/// contained, and a canary file next to the target must stay unchanged.
/// </summary>
public sealed class LayerUnpackerTests : IDisposable
{
    private const string CanaryText = "canary: untouched";
    private readonly TempDir _temp = new();
    private readonly string _target;
    private readonly string _canary;

    public LayerUnpackerTests()
    {
        _target = _temp.Sub("host/layer");
        _canary = Path.Combine(_temp.Path, "host", "canary");
        File.WriteAllText(_canary, CanaryText);
    }

    public void Dispose() => _temp.Dispose();

    private LayerUnpackResult Unpack(byte[] tar) => LayerUnpacker.Unpack(new MemoryStream(tar), _target, "test-layer");

    private void AssertCanaryUnchanged()
    {
        Assert.Equal(CanaryText, File.ReadAllText(_canary));
        Assert.Equal(new[] { "canary", "layer" }, Directory.GetFileSystemEntries(Path.Combine(_temp.Path, "host")).Select(Path.GetFileName).Order());
        Assert.False(File.Exists(Path.Combine(_temp.Path, "pwned")));
    }

    [Fact]
    public void Unpack_DotDotName_RefusedCanaryUnchanged()
    {
        var tar = new TarBuilder().File("../canary", "overwritten").Build();
        var e = Assert.Throws<StrataException>(() => Unpack(tar));
        Assert.Contains("'..'", e.Message, StringComparison.Ordinal);
        AssertCanaryUnchanged();
    }

    [Fact]
    public void Unpack_DotDotInMiddle_RefusedCanaryUnchanged()
    {
        var tar = new TarBuilder().Dir("a/").File("a/../../canary", "overwritten").Build();
        Assert.Throws<StrataException>(() => Unpack(tar));
        AssertCanaryUnchanged();
    }

    [Fact]
    public void Unpack_AbsoluteName_ContainedInsideTarget()
    {
        var tar = new TarBuilder().File(_canary, "overwritten").Build();
        Unpack(tar);
        AssertCanaryUnchanged();
        Assert.Equal("overwritten", File.ReadAllText(Path.Combine(_target, _canary.TrimStart('/'))));
    }

    [Fact]
    public void Unpack_AbsoluteSymlinkThenWriteThroughIt_RefusedCanaryUnchanged()
    {
        var tar = new TarBuilder()
            .Symlink("escape", Path.Combine(_temp.Path, "host"))
            .File("escape/canary", "overwritten")
            .Build();
        var e = Assert.Throws<StrataException>(() => Unpack(tar));
        Assert.Contains("symbolic link", e.Message, StringComparison.Ordinal);
        AssertCanaryUnchanged();
    }

    [Fact]
    public void Unpack_AbsoluteSymlinkToFileThenOverwriteIt_ContainedCanaryUnchanged()
    {
        // A later regular file with the symlink's own name replaces the link; it never writes through it.
        var tar = new TarBuilder().Symlink("c", _canary).File("c", "overwritten").Build();
        Unpack(tar);
        AssertCanaryUnchanged();
        Assert.Equal("overwritten", File.ReadAllText(Path.Combine(_target, "c")));
        Assert.Null(new FileInfo(Path.Combine(_target, "c")).LinkTarget);
    }

    [Fact]
    public void Unpack_RelativeSymlinkEscapingThenWriteThroughIt_RefusedCanaryUnchanged()
    {
        var tar = new TarBuilder()
            .Dir("a/")
            .Symlink("a/up", "../..")
            .File("a/up/canary", "overwritten")
            .Build();
        Assert.Throws<StrataException>(() => Unpack(tar));
        AssertCanaryUnchanged();
    }

    [Fact]
    public void Unpack_HardLinkToOutside_RefusedCanaryUnchanged()
    {
        var tar = new TarBuilder().HardLink("x", "../canary").Build();
        Assert.Throws<StrataException>(() => Unpack(tar));
        var abs = new TarBuilder().HardLink("y", _canary).Build();
        Assert.Throws<StrataException>(() => Unpack(abs));
        AssertCanaryUnchanged();
    }

    [Fact]
    public void Unpack_HardLinkThroughSymlinkToOutside_RefusedCanaryUnchanged()
    {
        var tar = new TarBuilder()
            .Symlink("out", Path.Combine(_temp.Path, "host"))
            .HardLink("x", "out/canary")
            .File("x", "overwritten")
            .Build();
        Assert.Throws<StrataException>(() => Unpack(tar));
        AssertCanaryUnchanged();
        Assert.Equal(1, (int)Tools.Run("stat", "-c", "%h", _canary).Output.Trim()[0] - '0');
    }

    [Fact]
    public void Unpack_DirectoryReplacedBySymlinkMidArchive_RefusedCanaryUnchanged()
    {
        var tar = new TarBuilder()
            .Dir("d/")
            .File("d/ok", "fine")
            .Symlink("d", Path.Combine(_temp.Path, "host"))
            .File("d/canary", "overwritten")
            .Build();
        Assert.Throws<StrataException>(() => Unpack(tar));
        AssertCanaryUnchanged();
    }

    [Fact]
    public void Unpack_SymlinksStoredVerbatimNotFollowed()
    {
        var tar = new TarBuilder().Symlink("abs", "/etc/passwd").Symlink("rel", "../../x").Build();
        Unpack(tar);
        Assert.Equal("/etc/passwd", new FileInfo(Path.Combine(_target, "abs")).LinkTarget);
        Assert.Equal("../../x", new FileInfo(Path.Combine(_target, "rel")).LinkTarget);
    }

    [Fact]
    public void Unpack_Whiteouts_BecomeOverlayCharDevicesAndOpaqueXattr()
    {
        var tar = new TarBuilder()
            .Dir("etc/")
            .File("etc/.wh.removed", "")
            .Dir("var/")
            .File("var/.wh..wh..opq", "")
            .File("var/new", "n")
            .Build();
        Unpack(tar);
        var whiteout = Path.Combine(_target, "etc", "removed");
        Assert.Equal("character special file 0,0", Tools.Run("stat", "-c", "%F %t,%T", whiteout).Output.Trim());
        Assert.False(File.Exists(Path.Combine(_target, "etc", ".wh.removed")));
        Assert.Equal("y"u8.ToArray(), Native.GetXattr(Path.Combine(_target, "var"), LayerUnpacker.OpaqueXattr));
        Assert.False(File.Exists(Path.Combine(_target, "var", ".wh..wh..opq")));
        Assert.Null(Native.GetXattr(Path.Combine(_target, "etc"), LayerUnpacker.OpaqueXattr));
    }

    [Fact]
    public void Unpack_SharedOverlayFixtures_MarkDeletionsInOverlayForm()
    {
        Unpack(OverlayLayerFixtures.Upper());
        Assert.True(OverlayForm.IsWhiteout(Path.Combine(_target, "etc", "gone")));
        Assert.True(OverlayForm.IsOpaque(Path.Combine(_target, "opaque")));
        Assert.False(OverlayForm.IsOpaque(Path.Combine(_target, "etc")));
        // A real device node is content, not a whiteout; nor is a regular file.
        Assert.Equal("character special file 1,3", Tools.Run("stat", "-c", "%F %t,%T", Path.Combine(_target, "dev", "null")).Output.Trim());
        Assert.False(OverlayForm.IsWhiteout(Path.Combine(_target, "dev", "null")));
        Assert.False(OverlayForm.IsWhiteout(Path.Combine(_target, "etc", "kept")));
        Assert.False(OverlayForm.IsWhiteout(Path.Combine(_target, "etc", "missing")));
    }

    [Fact]
    public void Unpack_HardLinkInsideLayer_SharesInode()
    {
        var tar = new TarBuilder().Dir("bin/").File("bin/a", "same bytes", 0b111_101_101).HardLink("bin/b", "bin/a").Build();
        Unpack(tar);
        var a = Tools.Run("stat", "-c", "%i %h", Path.Combine(_target, "bin", "a")).Output.Trim();
        var b = Tools.Run("stat", "-c", "%i %h", Path.Combine(_target, "bin", "b")).Output.Trim();
        Assert.Equal(a, b);
        Assert.EndsWith(" 2", a, StringComparison.Ordinal);
    }

    [Fact]
    public void Unpack_DeviceNode_Created()
    {
        var tar = new TarBuilder().Dir("dev/").CharDevice("dev/null", 1, 3).Build();
        Unpack(tar);
        Assert.Equal("character special file 1,3", Tools.Run("stat", "-c", "%F %t,%T", Path.Combine(_target, "dev", "null")).Output.Trim());
    }

    [Fact]
    public void Unpack_OwnershipModeMtime_Applied()
    {
        var mtime = new DateTimeOffset(2011, 2, 3, 4, 5, 6, TimeSpan.Zero);
        var tar = new TarBuilder().Dir("d/", 0b111_000_000).File("d/f", "x", 0b100_111_101_101, uid: 1234, gid: 5678, mtime: mtime).Build();
        Unpack(tar);
        var f = Path.Combine(_target, "d", "f");
        Assert.Equal("1234 5678 4755 1296705906", Tools.Run("stat", "-c", "%u %g %a %Y", f).Output.Trim());
        Assert.Equal("700", Tools.Run("stat", "-c", "%a", Path.Combine(_target, "d")).Output.Trim());
    }

    [Fact]
    public void Unpack_GzipAndZstd_GiveSameDiffIdAsPlainTar()
    {
        var tar = new TarBuilder().Dir("a/").File("a/b", "hello").Build();
        var expected = Digest.Compute(tar);
        var gz = new MemoryStream();
        using (var z = new System.IO.Compression.GZipStream(gz, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true))
        {
            z.Write(tar);
        }
        var zst = new ZstdSharp.Compressor().Wrap(tar).ToArray();
        foreach (var layer in new[] { tar, gz.ToArray(), zst })
        {
            using var dir = new TempDir();
            var result = LayerUnpacker.Unpack(new MemoryStream(layer), dir.Path, "l");
            Assert.Equal(expected, result.DiffId);
            Assert.Equal("hello", File.ReadAllText(Path.Combine(dir.Path, "a", "b"), Encoding.UTF8));
        }
    }
}
