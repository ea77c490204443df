using System.Runtime.InteropServices;

namespace Strata.Node.Supervision;

/// <summary>
/// The few libc calls the supervision code needs. Shared (linked) with the NativeAOT supervisor,
/// so it uses only source-generated, blittable P/Invoke.
/// </summary>
internal static unsafe partial class Libc
{
    public const int EINTR = 4;
    public const int ESRCH = 3;
    public const int ENOENT = 2;
    public const int EAGAIN = 11;
    public const int ENOSYS = 38;

    public const int O_RDONLY = 0;
    public const int O_WRONLY = 1;
    public const int O_RDWR = 2;
    public const int O_NONBLOCK = 0x800;
    public const int O_DIRECTORY = 0x10000;
    public const int O_CLOEXEC = 0x80000;

    public const short POLLIN = 0x1;
    public const short POLLERR = 0x8;
    public const short POLLHUP = 0x10;
    public const short POLLNVAL = 0x20;

    // Same number on every Linux architecture (syscalls added after 5.x are unified).
    private const long SysPidfdOpen = 434;

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport("libc", SetLastError = true)]
    public static partial int kill(int pid, int signal);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int poll(PollFd* fds, nuint count, int timeoutMs);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int pipe2(int* fds, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint read(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint write(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int open(string path, int flags, int mode);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int fsync(int fd);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int getpid();

    // glibc ≥ 2.33 exports fstat/stat as real symbols. struct stat starts with st_dev, st_ino (both 64-bit)
    // on x86_64 and aarch64; only those are read, from a buffer larger than the whole struct.
    [LibraryImport("libc", SetLastError = true)]
    private static partial int fstat(int fd, byte* buffer);

    [LibraryImport("libc", EntryPoint = "stat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int stat(string path, byte* buffer);

    /// <summary>(device, inode) of an open file, or null.</summary>
    public static (ulong Dev, ulong Ino)? FileId(SafeHandle handle)
    {
        var added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            var buffer = stackalloc byte[256];
            return fstat((int)handle.DangerousGetHandle(), buffer) == 0 ? (*(ulong*)buffer, *(ulong*)(buffer + 8)) : null;
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    /// <summary>(device, inode) of the file at a path, or null.</summary>
    public static (ulong Dev, ulong Ino)? FileId(string path)
    {
        var buffer = stackalloc byte[256];
        return stat(path, buffer) == 0 ? (*(ulong*)buffer, *(ulong*)(buffer + 8)) : null;
    }

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long syscall_pidfd_open(long number, int pid, uint flags);

    /// <summary>A pollable handle to a process (readable once it has exited), or -1 with errno set.</summary>
    public static int PidfdOpen(int pid) => (int)syscall_pidfd_open(SysPidfdOpen, pid, 0);

    /// <summary>Writes all of <paramref name="data"/>, retrying on EINTR and short writes.</summary>
    public static bool WriteAll(int fd, ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data)
        {
            var done = 0;
            while (done < data.Length)
            {
                var n = write(fd, p + done, (nuint)(data.Length - done));
                if (n < 0)
                {
                    if (Marshal.GetLastPInvokeError() == EINTR)
                    {
                        continue;
                    }
                    return false;
                }
                done += (int)n;
            }
        }
        return true;
    }

    /// <summary>fsyncs a directory so a rename inside it is durable.</summary>
    public static void FsyncDirectory(string directory)
    {
        var fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
        if (fd >= 0)
        {
            fsync(fd);
            close(fd);
        }
    }

    public static string ErrorText(int errno) => Marshal.GetPInvokeErrorMessage(errno);
}
