using Strata.Images.Layers;
using Strata.Images.Tests;
using Strata.Node.Guest;
using Strata.Testing;
using Xunit;

namespace Strata.Node.Tests.Guest;

/// <summary>
/// The guest tiers' root disk holds what the container tier's overlay mount shows for the same layers: the shared
/// fixtures (<see cref="OverlayLayerFixtures"/>) are unpacked by the image store's unpacker, mounted as overlayfs
/// the way the container tier mounts them, merged and built into an ext4 disk, and all three are compared.
/// </summary>
public sealed class GuestRootDisksTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("strata-guest-disks-").FullName;

    public void Dispose()
    {
        if (Directory.Exists(Path.Combine(_dir, "overlay")))
        {
            Tools.Run("umount", Path.Combine(_dir, "overlay"));
        }
        Directory.Delete(_dir, recursive: true);
    }

    private (string Lower, string Upper) UnpackFixtures()
    {
        TestEnvironment.Require(TestEnvironment.IsRoot, "whiteouts are character devices and opaque directories trusted.* xattrs: unpacking them needs root");
        var lower = Path.Combine(_dir, "layers", "lower");
        var upper = Path.Combine(_dir, "layers", "upper");
        Directory.CreateDirectory(lower);
        Directory.CreateDirectory(upper);
        LayerUnpacker.Unpack(new MemoryStream(OverlayLayerFixtures.Lower()), lower, "lower");
        LayerUnpacker.Unpack(new MemoryStream(OverlayLayerFixtures.Upper()), upper, "upper");
        return (lower, upper);
    }

    [SkippableFact]
    public async Task Merge_SharedFixtures_MatchesTheContainerTiersOverlayMount()
    {
        var (lower, upper) = UnpackFixtures();
        var mounted = Path.Combine(_dir, "overlay");
        Directory.CreateDirectory(mounted);
        var mount = Tools.Run("mount", "-t", "overlay", "overlay", "-o", $"ro,lowerdir={upper}:{lower}", mounted);
        Assert.True(mount.Code == 0, "overlay mount failed: " + mount.Output);
        Assert.Equal(OverlayLayerFixtures.Merged, OverlayLayerFixtures.Describe(mounted));

        // The lower layer's links lead to ../canary and ../canary-dir: from the merged tree, these.
        File.WriteAllText(Path.Combine(_dir, "canary"), "canary");
        Directory.CreateDirectory(Path.Combine(_dir, "canary-dir"));
        var merged = Path.Combine(_dir, "merged");
        await LayerMerge.MergeAsync([lower, upper], merged, CancellationToken.None);

        Assert.Equal(OverlayLayerFixtures.Merged, OverlayLayerFixtures.Describe(merged));
        Assert.Equal("canary", File.ReadAllText(Path.Combine(_dir, "canary"))); // replaced, not written through
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(_dir, "canary-dir")));
    }

    [SkippableFact]
    public async Task BaseDisk_SharedFixtures_HoldsTheMergedRootAndIsBuiltOnce()
    {
        TestEnvironment.Require(TestEnvironment.Which("debugfs") is not null, "debugfs (e2fsprogs) is not installed");
        var (lower, upper) = UnpackFixtures();
        var disks = new GuestRootDisks(Path.Combine(_dir, "disks"));

        var disk = await disks.EnsureBaseAsync([lower, upper], "sha256:" + new string('a', 64), CancellationToken.None);

        Assert.Equal(Path.Combine(_dir, "disks", "image-" + new string('a', 64) + ".ext4"), disk);
        Assert.Equal("upper", DebugFs(disk, "cat /etc/kept"));
        Assert.Equal("upper", DebugFs(disk, "cat /opaque/new"));
        Assert.Contains("File not found", DebugFs(disk, "stat /etc/gone"), StringComparison.Ordinal);
        Assert.Contains("File not found", DebugFs(disk, "stat /opaque/old"), StringComparison.Ordinal);
        Assert.Contains("File not found", DebugFs(disk, "stat /opaque/sub"), StringComparison.Ordinal);
        var dev = DebugFs(disk, "stat /dev/null");
        Assert.Contains("Type: character special", dev, StringComparison.Ordinal);
        Assert.Contains("Device major/minor number: 01:03", dev, StringComparison.Ordinal);
        Assert.Contains("Type: directory", DebugFs(disk, "stat /was-link"), StringComparison.Ordinal);
        Assert.Empty(Directory.GetDirectories(Path.Combine(_dir, "disks"))); // the merge tree is gone

        var written = File.GetLastWriteTimeUtc(disk);
        Assert.Equal(disk, await disks.EnsureBaseAsync([lower, upper], "sha256:" + new string('a', 64), CancellationToken.None));
        Assert.Equal(written, File.GetLastWriteTimeUtc(disk));
    }

    [SkippableFact]
    public async Task BaseDisk_OneLayerWithWhiteouts_IsMergedNotCopied()
    {
        var (_, upper) = UnpackFixtures();
        var disks = new GuestRootDisks(Path.Combine(_dir, "disks"));

        var disk = await disks.EnsureBaseAsync([upper], "sha256:" + new string('b', 64), CancellationToken.None);

        Assert.Contains("File not found", DebugFs(disk, "stat /etc/gone"), StringComparison.Ordinal);
        Assert.Contains("Device major/minor number: 01:03", DebugFs(disk, "stat /dev/null"), StringComparison.Ordinal);
    }

    [Fact]
    public void CacheKey_ImageIdNamesTheDisk_DirectoryImageFollowsItsChanges()
    {
        Assert.Equal("image-abc", GuestRootDisks.CacheKey([], "sha256:abc"));
        var dir = Directory.CreateDirectory(Path.Combine(_dir, "rootfs")).FullName;
        var key = GuestRootDisks.CacheKey([dir], "dir:" + dir);
        Assert.StartsWith("dir-", key, StringComparison.Ordinal);
        Assert.Equal(key, GuestRootDisks.CacheKey([dir], "dir:" + dir));
        Directory.SetLastWriteTimeUtc(dir, DateTime.UtcNow.AddMinutes(-5));
        Assert.NotEqual(key, GuestRootDisks.CacheKey([dir], "dir:" + dir));
    }

    /// <summary>One debugfs request against the disk image (read-only, no mount): what it printed, or its error.</summary>
    private static string DebugFs(string disk, string request)
    {
        var psi = new System.Diagnostics.ProcessStartInfo("debugfs") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("-R");
        psi.ArgumentList.Add(request);
        psi.ArgumentList.Add(disk);
        psi.Environment["DEBUGFS_PAGER"] = "__none__";
        using var p = System.Diagnostics.Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        // stderr starts with debugfs's version banner.
        return stdout.Length > 0 ? stdout.Trim() : string.Join('\n', stderr.Result.Split('\n').Where(l => !l.StartsWith("debugfs ", StringComparison.Ordinal))).Trim();
    }
}
