using System.ComponentModel;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Strata.Qemu.Templates;

/// <summary>Where a sparse file's data and holes are (<c>lseek</c> with <c>SEEK_DATA</c> / <c>SEEK_HOLE</c>), for copies that keep the holes.</summary>
internal static partial class SparseFile
{
    private const int SeekData = 3;
    private const int SeekHole = 4;
    private const int ENXIO = 6;

    /// <summary>The first offset at or after <paramref name="offset"/> that holds data; -1 when only a hole follows.</summary>
    public static long NextData(SafeFileHandle file, long offset) => Seek(file, offset, SeekData);

    /// <summary>The first offset at or after <paramref name="offset"/> in a hole (the file's end counts as one).</summary>
    public static long NextHole(SafeFileHandle file, long offset) => Seek(file, offset, SeekHole);

    private static long Seek(SafeFileHandle file, long offset, int whence)
    {
        var at = LSeek((int)file.DangerousGetHandle(), offset, whence);
        if (at >= 0)
        {
            return at;
        }
        var errno = Marshal.GetLastPInvokeError();
        if (errno == ENXIO)
        {
            return -1;
        }
        throw new Win32Exception(errno);
    }

    [LibraryImport("libc", EntryPoint = "lseek", SetLastError = true)]
    private static partial long LSeek(int fd, long offset, int whence);
}
