using System.Runtime.InteropServices;

namespace Strata.Images.Layers;

/// <summary>
/// How an unpacked layer marks what it deletes, in overlayfs's form: what <see cref="LayerUnpacker"/> writes, what the
/// container tier's overlay mount reads, and what the guest tiers' layer merge (Strata.Node's <c>Guest/LayerMerge</c>)
/// applies. A whiteout is a character device 0/0 with the deleted entry's name; an opaque directory carries
/// <see cref="OpaqueXattr"/> = <c>y</c> and hides everything lower layers had in it. Any other device node
/// (e.g. <c>/dev/null</c>, 1/3) is content.
/// </summary>
public static partial class OverlayForm
{
    public const string OpaqueXattr = "trusted.overlay.opaque";

    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const uint StatxType = 0x1;
    private const int StatxModeOffset = 0x1C;
    private const int StatxRdevMajorOffset = 0x80;
    private const int StatxRdevMinorOffset = 0x84;
    private const int StatxSize = 0x100;

    /// <summary>Whether <paramref name="path"/> (not followed if a link) is a whiteout: a character device 0/0.</summary>
    public static bool IsWhiteout(string path)
    {
        // statx's layout is the same on every architecture (lstat's struct stat is not).
        var buffer = new byte[StatxSize];
        if (Statx(AtFdCwd, path, AtSymlinkNoFollow, StatxType, buffer) != 0)
        {
            return false;
        }
        var mode = BitConverter.ToUInt16(buffer, StatxModeOffset);
        return (mode & 0xF000) == Native.SIfChr
            && BitConverter.ToUInt32(buffer, StatxRdevMajorOffset) == 0
            && BitConverter.ToUInt32(buffer, StatxRdevMinorOffset) == 0;
    }

    /// <summary>Whether the directory <paramref name="path"/> is opaque: lower layers' entries in it are hidden.</summary>
    public static bool IsOpaque(string path) => Native.GetXattr(path, OpaqueXattr) is [(byte)'y'];

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Statx(int dirFd, string path, int flags, uint mask, byte[] buffer);
}
