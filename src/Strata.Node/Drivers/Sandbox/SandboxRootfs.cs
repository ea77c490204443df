using Strata.Contracts;
using Strata.Contracts.Host;
using Strata.Qemu.Guest;

namespace Strata.Node.Drivers.Sandbox;

/// <summary>
/// The image as the guest's root: the unpacked layers merged into one tree and written to an ext4 image
/// (<c>mkfs.ext4 -d</c>), built once per image digest and shared read-only by every sandbox of that image;
/// each sandbox writes to its own qcow2 overlay on top.
/// </summary>
internal sealed partial class SandboxRootfs(string cacheDirectory)
{
    private readonly DiskBuilder _disks = new(cacheDirectory);
    private static readonly SemaphoreSlim s_build = new(1, 1);

    /// <summary>The shared base disk for this image, built on first use.</summary>
    public async Task<string> EnsureBaseAsync(IReadOnlyList<string> layerDirs, string imageDigest, CancellationToken ct)
    {
        var key = CacheKey(layerDirs, imageDigest);
        var cached = Path.Combine(cacheDirectory, key + ".ext4");
        if (File.Exists(cached))
        {
            return cached;
        }
        // One build at a time: mkfs of a large image is I/O bound and two builds of one digest would race for nothing.
        await s_build.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (layerDirs.Count == 1)
            {
                return await _disks.BuildExt4Async(layerDirs[0], key, null, ct).ConfigureAwait(false);
            }
            var merged = Path.Combine(cacheDirectory, $"{key}.merge.{Environment.ProcessId}");
            try
            {
                await MergeLayersAsync(layerDirs, merged, ct).ConfigureAwait(false);
                return await _disks.BuildExt4Async(merged, key, null, ct).ConfigureAwait(false);
            }
            finally
            {
                if (Directory.Exists(merged))
                {
                    Directory.Delete(merged, recursive: true);
                }
            }
        }
        finally
        {
            s_build.Release();
        }
    }

    /// <summary>
    /// An image store digest names content, so its disk is shared for good. A directory image (<c>dir:PATH</c>)
    /// can change under the same name: its key adds the directory's modification time, so replacing or
    /// touching the directory builds a new disk (changes deep inside it that leave the top untouched do not).
    /// </summary>
    internal static string CacheKey(IReadOnlyList<string> layerDirs, string imageDigest)
    {
        if (imageDigest.StartsWith("sha256:", StringComparison.Ordinal))
        {
            return "image-" + imageDigest["sha256:".Length..];
        }
        var stamp = string.Join('|', layerDirs.Select(d => d + ":" + Directory.GetLastWriteTimeUtc(d).Ticks.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        return "dir-" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(imageDigest + "|" + stamp)))[..32];
    }

    public Task CreateOverlayAsync(string baseDisk, string overlay, CancellationToken ct) =>
        _disks.CreateOverlayAsync(baseDisk, "raw", overlay, ct);

    /// <summary>
    /// Applies layers lowest first the way overlayfs would show them: a 0/0 character device (a whiteout, as
    /// the image store unpacks them) removes that path; an opaque directory (xattr
    /// <c>trusted.overlay.opaque=y</c>) hides what lower layers had in it. <c>cp -a</c> keeps owners, modes,
    /// links and devices.
    /// </summary>
    internal static async Task MergeLayersAsync(IReadOnlyList<string> layerDirs, string target, CancellationToken ct)
    {
        Directory.CreateDirectory(target);
        foreach (var layer in layerDirs)
        {
            foreach (var path in Directory.EnumerateFileSystemEntries(layer, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }))
            {
                var rel = Path.GetRelativePath(layer, path);
                var dest = Path.Combine(target, rel);
                if (IsWhiteout(path))
                {
                    Remove(dest);
                }
                else if (Directory.Exists(path) && !File.Exists(path) && IsOpaque(path) && Directory.Exists(dest))
                {
                    foreach (var child in Directory.EnumerateFileSystemEntries(dest))
                    {
                        Remove(child);
                    }
                }
                else if (Directory.Exists(dest) && new FileInfo(dest).LinkTarget is null && !Directory.Exists(path))
                {
                    Remove(dest); // a file replaces a directory
                }
            }
            await RunAsync("cp", ["-a", "--", layer + "/.", target + "/"], ct).ConfigureAwait(false);
            foreach (var path in Directory.EnumerateFileSystemEntries(target, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }).ToList())
            {
                if (IsWhiteout(path))
                {
                    File.Delete(path);
                }
            }
        }
    }

    private static void Remove(string path)
    {
        var info = new FileInfo(path);
        if (info.LinkTarget is null && Directory.Exists(path))
        {
            Directory.Delete(path, recursive: true);
        }
        else if (info.Exists || info.LinkTarget is not null)
        {
            File.Delete(path);
        }
    }

    private static bool IsWhiteout(string path)
    {
        if (Native.LStat(path, out var mode, out var rdev) != 0)
        {
            return false;
        }
        return (mode & 0xF000) == 0x2000 && rdev == 0;
    }

    private static bool IsOpaque(string path) => Native.GetXattr(path, "trusted.overlay.opaque") == "y";

    private static async Task RunAsync(string file, IEnumerable<string> args, CancellationToken ct) =>
        (await HostTool.RunAsync(file, args, cancellationToken: ct).ConfigureAwait(false)).EnsureSuccess();

    private static unsafe partial class Native
    {
        [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
        private struct StatX64
        {
            public ulong Dev;
            public ulong Ino;
            public ulong Nlink;
            public uint Mode;
            public uint Uid;
            public uint Gid;
            public int Pad0;
            public ulong Rdev;
            public long Size;
            public long Blksize;
            public long Blocks;
            public fixed long Times[6];
            public fixed long Reserved[3];
        }

        [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "lstat", StringMarshalling = System.Runtime.InteropServices.StringMarshalling.Utf8, SetLastError = true)]
        private static partial int lstat(string path, StatX64* buf);

        [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "lgetxattr", StringMarshalling = System.Runtime.InteropServices.StringMarshalling.Utf8, SetLastError = true)]
        private static partial nint lgetxattr(string path, string name, byte* value, nuint size);

        public static int LStat(string path, out uint mode, out ulong rdev)
        {
            StatX64 st;
            var r = lstat(path, &st);
            mode = st.Mode;
            rdev = st.Rdev;
            return r;
        }

        public static string? GetXattr(string path, string name)
        {
            var buffer = stackalloc byte[16];
            var n = lgetxattr(path, name, buffer, 16);
            return n < 0 ? null : System.Text.Encoding.UTF8.GetString(buffer, (int)n);
        }
    }
}
