using System.Globalization;
using Strata.Contracts;
using Strata.Contracts.Host;

namespace Strata.Qemu.Guest;

/// <summary>
/// Disk images for guests: an ext4 image made from a directory (<c>mkfs.ext4 -d</c>, no mount, no root
/// tricks), cached by a key the caller gives (e.g. an image digest), and qcow2 overlays over a shared
/// read-only base so many guests start from one image and each writes only its own file.
/// </summary>
public sealed class DiskBuilder(string cacheDirectory, string mkfsExt4 = "mkfs.ext4", string qemuImg = "qemu-img")
{
    /// <summary>Returns the cached ext4 image for <paramref name="cacheKey"/>, building it from <paramref name="sourceDirectory"/> on first use.</summary>
    /// <param name="sizeBytes">Image size; by default the content's size plus a quarter plus 32 MiB.</param>
    public async Task<string> BuildExt4Async(string sourceDirectory, string cacheKey, long? sizeBytes, CancellationToken cancellationToken)
    {
        if (!Directory.Exists(sourceDirectory))
        {
            throw StrataException.NotFound($"directory {sourceDirectory} to build a disk from does not exist");
        }
        if (string.IsNullOrEmpty(cacheKey) || cacheKey.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')) || cacheKey.StartsWith('.'))
        {
            throw StrataException.Invalid("cacheKey", $"'{cacheKey}' must be letters, digits, '-', '_' or '.' (a digest works)");
        }
        var path = Path.Combine(cacheDirectory, cacheKey + ".ext4");
        if (File.Exists(path))
        {
            return path;
        }
        PrivatePaths.CreateDirectory(cacheDirectory);
        var size = sizeBytes ?? EstimateSize(sourceDirectory);
        size = (size + 1023) / 1024 * 1024;
        var temp = $"{path}.{Environment.ProcessId}.tmp";
        try
        {
            await using (var f = new FileStream(temp, PrivatePaths.NewFile()))
            {
                f.SetLength(size); // Sparse: only written blocks take space.
            }
            var r = await ExternalTool.RunAsync(mkfsExt4,
                ["-q", "-F", "-t", "ext4", "-L", "strata-root", "-E", "root_owner=0:0", "-d", sourceDirectory, temp,
                 (size / 1024).ToString(CultureInfo.InvariantCulture) + "k"],
                "e2fsprogs", cancellationToken).ConfigureAwait(false);
            if (r.ExitCode != 0)
            {
                throw new StrataException(ErrorKind.Internal, $"mkfs.ext4 -d {sourceDirectory} failed (exit {r.ExitCode}): {r.Stderr.Trim()}");
            }
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            File.Delete(temp);
        }
        return path;
    }

    /// <summary>
    /// Creates a qcow2 overlay whose backing file is <paramref name="basePath"/>; QEMU opens the base read-only. An empty
    /// overlay's bytes depend only on the base (its path, format and size), so <c>qemu-img</c> makes one once per base
    /// (kept under <c>overlays/</c> in the cache directory, named after the base and keyed by its path, format, size and date; removed with the image: <see cref="RemoveEmptyOverlays"/>) and every
    /// later overlay is a copy of it: a file copy instead of a process start on each sandbox's path.
    /// </summary>
    public async Task CreateOverlayAsync(string basePath, string baseFormat, string overlayPath, CancellationToken cancellationToken)
    {
        if (!File.Exists(basePath))
        {
            throw StrataException.NotFound($"base image {basePath} does not exist");
        }
        var full = Path.GetFullPath(basePath);
        var info = new FileInfo(full);
        var key = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(
            string.Create(CultureInfo.InvariantCulture, $"{full}\n{baseFormat}\n{info.Length}\n{info.LastWriteTimeUtc.Ticks}"))))[..32];
        // Named after the base too (image-HEX-KEY.qcow2), so an image's removal finds its overlays (RemoveEmptyOverlays).
        var empty = Path.Combine(cacheDirectory, OverlaysDirectory, Path.GetFileNameWithoutExtension(full) + "-" + key + ".qcow2");
        for (var attempt = 0; ; attempt++)
        {
            if (!File.Exists(empty))
            {
                await MakeEmptyOverlayAsync(full, baseFormat, empty, cancellationToken).ConfigureAwait(false);
            }
            try
            {
                File.Copy(empty, overlayPath, overwrite: true);
                return;
            }
            catch (FileNotFoundException) when (attempt == 0)
            {
                // removed by an image rm or prune between the check and the copy: made again
            }
        }
    }

    /// <summary>Where the empty overlays are kept, under the cache directory.</summary>
    public const string OverlaysDirectory = "overlays";

    /// <summary>
    /// Removes the cached empty overlays (they are made again on the next start): those on the base disks whose file
    /// names start with <paramref name="baseName"/> (an image's disk, <c>image-HEX</c>), or all when it is null. Returns
    /// the bytes freed.
    /// </summary>
    public long RemoveEmptyOverlays(string? baseName)
    {
        var dir = Path.Combine(cacheDirectory, OverlaysDirectory);
        if (!Directory.Exists(dir))
        {
            return 0;
        }
        long freed = 0;
        foreach (var file in Directory.EnumerateFiles(dir, baseName is null ? "*.qcow2" : baseName + "-*.qcow2"))
        {
            try
            {
                var size = new FileInfo(file).Length;
                File.Delete(file);
                freed += size;
            }
            catch (IOException)
            {
                // gone already
            }
        }
        return freed;
    }

    private async Task MakeEmptyOverlayAsync(string full, string baseFormat, string empty, CancellationToken cancellationToken)
    {
        PrivatePaths.CreateDirectory(Path.GetDirectoryName(empty)!);
        var temp = $"{empty}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        try
        {
            await QemuImgCreateAsync(full, baseFormat, temp, cancellationToken).ConfigureAwait(false);
            File.SetUnixFileMode(temp, PrivatePaths.FileMode); // qemu-img creates it by the umask; copies keep this mode
            File.Move(temp, empty, overwrite: true);
        }
        finally
        {
            File.Delete(temp);
        }
    }

    private async Task QemuImgCreateAsync(string basePath, string baseFormat, string overlayPath, CancellationToken cancellationToken)
    {
        var r = await ExternalTool.RunAsync(qemuImg,
            ["create", "-q", "-f", "qcow2", "-b", basePath, "-F", baseFormat, overlayPath],
            "qemu-utils", cancellationToken).ConfigureAwait(false);
        if (r.ExitCode != 0)
        {
            throw new StrataException(ErrorKind.Internal, $"qemu-img create overlay on {basePath} failed (exit {r.ExitCode}): {r.Stderr.Trim()}");
        }
    }

    internal static long EstimateSize(string directory)
    {
        long bytes = 0;
        long entries = 0;
        foreach (var entry in new DirectoryInfo(directory).EnumerateFileSystemInfos("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }))
        {
            entries++;
            if (entry is FileInfo f && f.LinkTarget is null)
            {
                bytes += (f.Length + 4095) / 4096 * 4096;
            }
        }
        // Room for metadata (inodes, journal) and for the workload to write a little.
        return bytes + bytes / 4 + entries * 4096 + 32L * 1024 * 1024;
    }
}
