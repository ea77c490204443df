using System.Runtime.InteropServices;

namespace Strata.Images.Layers;

/// <summary>The few libc calls .NET does not offer: device nodes, lchown, hard links, xattrs, nofollow times.</summary>
internal static partial class Native
{
    public const uint SIfChr = 0x2000;
    public const uint SIfBlk = 0x6000;
    public const uint SIfIfo = 0x1000;
    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "mknod", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int MknodRaw(string path, uint mode, ulong dev);

    [LibraryImport("libc", EntryPoint = "lchown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int LchownRaw(string path, int uid, int gid);

    [LibraryImport("libc", EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int LinkRaw(string existing, string newPath);

    [LibraryImport("libc", EntryPoint = "lsetxattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int LsetxattrRaw(string path, string name, byte[] value, nuint size, int flags);

    [LibraryImport("libc", EntryPoint = "lgetxattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint LgetxattrRaw(string path, string name, byte[] value, nuint size);

    [LibraryImport("libc", EntryPoint = "utimensat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int UtimensatRaw(int dirFd, string path, Timespec[] times, int flags);

    /// <summary>glibc's makedev().</summary>
    public static ulong MakeDev(uint major, uint minor) =>
        ((ulong)(major & 0xfffff000) << 32) | ((ulong)(major & 0xfff) << 8) |
        ((ulong)(minor & 0xffffff00) << 12) | (minor & 0xff);

    public static void Mknod(string path, uint mode, uint major, uint minor) =>
        Check(MknodRaw(path, mode, MakeDev(major, minor)), "mknod", path);

    public static void Lchown(string path, int uid, int gid) => Check(LchownRaw(path, uid, gid), "lchown", path);

    public static void Link(string existing, string newPath) => Check(LinkRaw(existing, newPath), "link", newPath);

    public static void SetXattr(string path, string name, byte[] value) =>
        Check(LsetxattrRaw(path, name, value, (nuint)value.Length, 0), "lsetxattr " + name, path);

    /// <summary>Reads an xattr; null when absent.</summary>
    public static byte[]? GetXattr(string path, string name)
    {
        var buffer = new byte[4096];
        var n = LgetxattrRaw(path, name, buffer, (nuint)buffer.Length);
        return n < 0 ? null : buffer.AsSpan(0, (int)n).ToArray();
    }

    /// <summary>Sets atime and mtime without following a symlink.</summary>
    public static void SetTimes(string path, DateTimeOffset time)
    {
        var seconds = time.ToUnixTimeSeconds();
        var nanos = (time.UtcTicks % TimeSpan.TicksPerSecond) * 100;
        var spec = new Timespec { Seconds = seconds, Nanoseconds = nanos };
        Check(UtimensatRaw(AtFdCwd, path, [spec, spec], AtSymlinkNoFollow), "utimensat", path);
    }

    private static void Check(int result, string call, string path)
    {
        if (result != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            var message = $"{call} failed for {path}: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})";
            throw new IOException(message, errno);
        }
    }
}
