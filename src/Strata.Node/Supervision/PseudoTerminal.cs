using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Strata.Contracts;

namespace Strata.Node.Supervision;

/// <summary>
/// A pty pair from /dev/ptmx: the owner reads and writes the master; the terminal side is opened by path (the daemon,
/// for <c>exec -t</c>) or handed to a child as its stdio (the supervisor, for a main process with a terminal).
/// Linked into the supervisor.
/// </summary>
internal sealed unsafe partial class PseudoTerminal : IDisposable
{
    private const int O_RDWR = 2;
    private const int O_NOCTTY = 0x100;
    private const int O_CLOEXEC = 0x80000;
    private const nuint TIOCSWINSZ = 0x5414;
    private int _terminal;

    private PseudoTerminal(SafeFileHandle master, int terminal, string path)
    {
        Stream = new FileStream(master, FileAccess.ReadWrite, bufferSize: 0);
        _terminal = terminal;
        TerminalPath = path;
    }

    /// <summary>The master side: reads are what the terminal shows, writes are typed into it.</summary>
    public FileStream Stream { get; }

    /// <summary>The master's descriptor (for poll and read in the supervisor).</summary>
    public int MasterFd => (int)Stream.SafeFileHandle.DangerousGetHandle();

    /// <summary>The terminal side's descriptor while it is held open (-1 after <see cref="CloseTerminal"/>); close-on-exec.</summary>
    public int TerminalFd => _terminal;

    /// <summary>/dev/pts/N.</summary>
    public string TerminalPath { get; }

    public static PseudoTerminal Open(ushort columns, ushort rows)
    {
        var master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (master < 0)
        {
            throw new StrataException(ErrorKind.Internal, $"could not open a pseudo-terminal (errno {Marshal.GetLastPInvokeError()}); is /dev/pts mounted?");
        }
        var handle = new SafeFileHandle(master, ownsHandle: true);
        var name = new byte[128];
        int rc;
        fixed (byte* n = name)
        {
            rc = grantpt(master) | unlockpt(master) | ptsname_r(master, n, (nuint)name.Length);
        }
        if (rc != 0)
        {
            handle.Dispose();
            throw new StrataException(ErrorKind.Internal, $"could not set up the pseudo-terminal (errno {Marshal.GetLastPInvokeError()})");
        }
        var path = System.Text.Encoding.ASCII.GetString(name, 0, Array.IndexOf(name, (byte)0));
        // Held open until the command exits, so the master never reads as hung up before the runtime opened its side.
        var terminal = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (terminal < 0)
        {
            handle.Dispose();
            throw new StrataException(ErrorKind.Internal, $"could not open {path} (errno {Marshal.GetLastPInvokeError()})");
        }
        // Raw from the start: the container's own terminal already does the line discipline (echo, CR/LF), and
        // doing it twice doubles carriage returns; runc makes it raw too, but only once it is running.
        var termios = stackalloc byte[256];
        if (tcgetattr(terminal, termios) == 0)
        {
            cfmakeraw(termios);
            _ = tcsetattr(terminal, 0, termios);
        }
        var pty = new PseudoTerminal(handle, terminal, path);
        if (columns > 0 && rows > 0)
        {
            pty.Resize(columns, rows);
        }
        return pty;
    }

    public void Resize(ushort columns, ushort rows)
    {
        var size = stackalloc ushort[4];
        size[0] = rows;
        size[1] = columns;
        size[2] = 0;
        size[3] = 0;
        _ = ioctl((int)Stream.SafeFileHandle.DangerousGetHandle(), TIOCSWINSZ, size);
    }

    public void CloseTerminal()
    {
        var fd = Interlocked.Exchange(ref _terminal, -1);
        if (fd >= 0)
        {
            _ = close(fd);
        }
    }

    public void Dispose()
    {
        CloseTerminal();
        Stream.Dispose();
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int posix_openpt(int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int grantpt(int fd);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int unlockpt(int fd);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int ptsname_r(int fd, byte* buffer, nuint length);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);

    [LibraryImport("libc")]
    private static partial int tcgetattr(int fd, byte* termios);

    [LibraryImport("libc")]
    private static partial int tcsetattr(int fd, int optionalActions, byte* termios);

    [LibraryImport("libc")]
    private static partial void cfmakeraw(byte* termios);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int ioctl(int fd, nuint request, ushort* argp);
}
