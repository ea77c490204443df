using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Strata.Contracts.Drivers;
using Strata.Qemu.Guest;

namespace Strata.Node.Guest;

/// <summary>
/// OCI image → the read-only ext4 base disk a guest boots from (both the sandbox and the vm tier): the unpacked layers
/// merged by <see cref="LayerMerge"/> (the container tier's whiteout and opaque-directory rules), then
/// <c>mkfs.ext4 -d</c> (<see cref="DiskBuilder"/>), cached per image under <see cref="Directory"/> as
/// <c>image-&lt;id&gt;.ext4</c>. One base serves every sandbox and VM of that image; each instance writes to its own
/// qcow2 overlay (<see cref="CreateOverlayAsync"/>).
/// </summary>
public sealed class GuestRootDisks(string directory)
{
    // One build at a time in this process: mkfs of a large image is I/O bound, and two builds of one image would race
    // for nothing. Builds in other processes are safe too: a disk is written to a temporary name and renamed.
    private static readonly SemaphoreSlim s_build = new(1, 1);
    private readonly DiskBuilder _disks = new(directory);

    public string Directory { get; } = directory;

    /// <summary>The shared base disk of this image, built on first use.</summary>
    public async Task<string> EnsureBaseAsync(IReadOnlyList<string> layerDirs, string imageDigest, CancellationToken cancellationToken)
    {
        var key = CacheKey(layerDirs, imageDigest);
        var cached = Path.Combine(Directory, key + ".ext4");
        if (File.Exists(cached))
        {
            return cached;
        }
        await s_build.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (File.Exists(cached))
            {
                return cached;
            }
            CreateProgress.Report("disk", $"building the image's root disk (ext4 from {layerDirs.Count} layer{(layerDirs.Count == 1 ? "" : "s")}; once per image)");
            if (layerDirs.Count == 1 && !LayerMerge.HasOverlayMarks(layerDirs[0]))
            {
                return await _disks.BuildExt4Async(layerDirs[0], key, null, cancellationToken).ConfigureAwait(false);
            }
            var merged = Path.Combine(Directory, $"{key}.merge.{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}");
            try
            {
                Remove(merged);
                await LayerMerge.MergeAsync(layerDirs, merged, cancellationToken).ConfigureAwait(false);
                return await _disks.BuildExt4Async(merged, key, null, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                Remove(merged);
            }
        }
        finally
        {
            s_build.Release();
        }
    }

    /// <summary>
    /// An image store ID names content, so its disk is shared for good. A directory image (<c>dir:PATH</c>) can change
    /// under the same name: its key adds the directory's modification time, so replacing or touching the directory
    /// builds a new disk (changes deep inside it that leave the top untouched do not).
    /// </summary>
    public static string CacheKey(IReadOnlyList<string> layerDirs, string imageDigest)
    {
        if (imageDigest.StartsWith("sha256:", StringComparison.Ordinal))
        {
            return "image-" + imageDigest["sha256:".Length..];
        }
        var stamp = string.Join('|', layerDirs.Select(d => d + ":" + System.IO.Directory.GetLastWriteTimeUtc(d).Ticks.ToString(CultureInfo.InvariantCulture)));
        return "dir-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(imageDigest + "|" + stamp)))[..32];
    }

    /// <summary>A fresh qcow2 overlay on <paramref name="baseDisk"/> (an existing one is replaced): the instance's writable root.</summary>
    public async Task CreateOverlayAsync(string baseDisk, string baseFormat, string overlay, CancellationToken cancellationToken)
    {
        File.Delete(overlay);
        await _disks.CreateOverlayAsync(baseDisk, baseFormat, overlay, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Removes the cached empty overlays (<see cref="DiskBuilder.CreateOverlayAsync"/>) of image <paramref name="imageId"/>'s
    /// base disk, or of every base disk when it is null (<c>strata image rm</c> and <c>prune</c>); the bytes freed. They are
    /// made again by the next start.
    /// </summary>
    public long RemoveEmptyOverlays(string? imageId)
    {
        if (imageId is null)
        {
            return _disks.RemoveEmptyOverlays(null);
        }
        return imageId.StartsWith("sha256:", StringComparison.Ordinal) ? _disks.RemoveEmptyOverlays(CacheKey([], imageId)) : 0;
    }

    private static void Remove(string path)
    {
        if (System.IO.Directory.Exists(path))
        {
            System.IO.Directory.Delete(path, recursive: true);
        }
    }
}
