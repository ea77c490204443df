using System.Runtime.InteropServices;
using Strata.Contracts;
using Strata.Node.Supervision;

namespace Strata.Node.Drivers.Container;

/// <summary>
/// An instance's root filesystem: an overlay of the image layers (read-only, shared by every instance of the
/// image) under a private writable layer. Layout inside the instance directory:
/// <c>rootfs</c> (merged, the runtime's root), <c>rootfs-upper</c> (the writes), <c>rootfs-work</c> (overlayfs scratch).
/// </summary>
public sealed partial class ContainerRootfs
{
    public const string MergedName = "rootfs";
    public const string UpperName = "rootfs-upper";
    public const string WorkName = "rootfs-work";
    private const int MNT_DETACH = 2;

    public ContainerRootfs(string instanceDir, IReadOnlyList<string> layersLowestFirst, bool volatileUpper = false)
    {
        Volatile = volatileUpper;
        Merged = Path.Combine(instanceDir, MergedName);
        Upper = Path.Combine(instanceDir, UpperName);
        Work = Path.Combine(instanceDir, WorkName);
        Layers = layersLowestFirst;
    }

    public string Merged { get; }
    public string Upper { get; }
    public string Work { get; }
    public IReadOnlyList<string> Layers { get; }

    /// <summary>
    /// overlayfs <c>volatile</c>: no syncs of the writable layer (unmount gets ~5 ms cheaper). Only for instances
    /// removed when they end (as podman does for --rm): after a host crash their layer may be incomplete.
    /// </summary>
    public bool Volatile { get; }

    public void CreateDirectories()
    {
        foreach (var layer in Layers)
        {
            if (layer.Contains(',') || layer.Contains(':'))
            {
                throw StrataException.Invalid("image", $"layer directory '{layer}' contains ',' or ':', which overlayfs cannot take");
            }
        }
        Directory.CreateDirectory(Merged);
        Directory.CreateDirectory(Upper);
        Directory.CreateDirectory(Work);
    }

    public bool IsMounted()
    {
        var self = Libc.FileId(Merged);
        var parent = Libc.FileId(Path.GetDirectoryName(Merged)!);
        return self is { } a && parent is { } b && a.Dev != b.Dev;
    }

    /// <summary>Mounts the overlay unless it is mounted already (it survives daemon restarts, not host reboots).</summary>
    public void EnsureMounted()
    {
        if (IsMounted())
        {
            return;
        }
        Directory.CreateDirectory(Work);
        // overlayfs lists the top layer first.
        var lower = string.Join(':', Layers.Reverse());
        var options = $"lowerdir={lower},upperdir={Upper},workdir={Work}" + (Volatile ? ",volatile" : "");
        if (mount("overlay", Merged, "overlay", 0, options) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new StrataException(ErrorKind.Unavailable,
                $"could not mount the container's overlay root filesystem: {Libc.ErrorText(errno)}; the container tier needs root and overlayfs (modprobe overlay)");
        }
    }

    /// <summary>
    /// Detaches the overlay (the kernel finishes the unmount once nothing uses it; detaching does not wait for
    /// it, which keeps removal fast). Idempotent.
    /// </summary>
    public void Unmount()
    {
        for (var i = 0; i < 8 && IsMounted(); i++)
        {
            umount2(Merged, MNT_DETACH);
        }
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int mount(string source, string target, string fsType, ulong flags, string data);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int umount2(string target, int flags);
}
