using System.Runtime.InteropServices;

namespace Strata.Cli;

/// <summary>The terminal in raw mode (no echo, no line editing, no signals from ^C), restored at dispose.</summary>
internal sealed unsafe partial class RawTerminal : IDisposable
{
    // glibc's struct termios is 60 bytes; a larger buffer keeps this independent of the exact layout.
    private const int TermiosSize = 256;
    private readonly byte[] _saved = new byte[TermiosSize];
    private bool _restored;

    private RawTerminal()
    {
    }

    public static RawTerminal? Enter()
    {
        var t = new RawTerminal();
        var raw = new byte[TermiosSize];
        fixed (byte* saved = t._saved)
        fixed (byte* r = raw)
        {
            if (TcGetAttr(0, saved) != 0)
            {
                return null; // not a terminal after all
            }
            Buffer.MemoryCopy(saved, r, TermiosSize, TermiosSize);
            CfMakeRaw(r);
            if (TcSetAttr(0, 0, r) != 0)
            {
                return null;
            }
        }
        return t;
    }

    public void Dispose()
    {
        if (_restored)
        {
            return;
        }
        _restored = true;
        fixed (byte* saved = _saved)
        {
            _ = TcSetAttr(0, 0, saved);
        }
    }

    /// <summary>The terminal's size (columns, rows) from stdout's or stdin's terminal; (0, 0) when neither is one.</summary>
    public static (ushort Columns, ushort Rows) Size()
    {
        var size = stackalloc ushort[4];
        foreach (var fd in new[] { 1, 0, 2 })
        {
            if (IoctlWinSize(fd, TIOCGWINSZ, size) == 0 && size[0] > 0 && size[1] > 0)
            {
                return (size[1], size[0]);
            }
        }
        return (0, 0);
    }

    private const nuint TIOCGWINSZ = 0x5413;

    [LibraryImport("libc", EntryPoint = "ioctl")]
    private static partial int IoctlWinSize(int fd, nuint request, ushort* size);

    [LibraryImport("libc", EntryPoint = "tcgetattr")]
    private static partial int TcGetAttr(int fd, byte* termios);

    [LibraryImport("libc", EntryPoint = "tcsetattr")]
    private static partial int TcSetAttr(int fd, int optionalActions, byte* termios);

    [LibraryImport("libc", EntryPoint = "cfmakeraw")]
    private static partial void CfMakeRaw(byte* termios);
}
