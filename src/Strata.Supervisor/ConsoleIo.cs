using System.Runtime.InteropServices;
using Strata.Node.Supervision;

namespace Strata.Supervisor;

/// <summary>
/// The supervisor's end of the console channel (<see cref="ConsoleChannel"/>): input frames are written to the
/// workload's input (the terminal's master, or the write end of its stdin pipe), size frames set the terminal's size
/// and tell the runtime (SIGWINCH: runc copies our terminal's size to the container's). Driven by
/// <see cref="RunMode"/>'s poll loop; nothing here blocks.
/// </summary>
internal sealed unsafe class ConsoleIo
{
    private const int SIGWINCH = 28;
    private const int F_GETFL = 3;
    private const int F_SETFL = 4;
    private const int F_DUPFD_CLOEXEC = 1030;
    private const int EAGAIN = 11;

    // runc skips a size change that comes before it has received the container's terminal (a race inside runc):
    // the signal is sent again a little later.
    private static readonly int[] s_nudgeMs = [100, 500];

    private readonly int _fifo;
    private readonly PseudoTerminal? _terminal;
    private readonly bool _input;
    private readonly ConsoleChannel.Reader _reader = new();
    private readonly byte[] _pending = new byte[128 * 1024];
    private readonly List<long> _nudges = [];
    private int _target;
    private int _pendingStart;
    private int _pendingEnd;
    private bool _closeWhenWritten;
    private int _workload;

    private ConsoleIo(int fifo, PseudoTerminal? terminal, int target, bool input)
    {
        _fifo = fifo;
        _terminal = terminal;
        _target = target;
        _input = input;
    }

    /// <summary>
    /// Opens the channel; <paramref name="target"/> is where input goes (-1: none). A terminal's master is shared with
    /// the output side, which is why it is duplicated here (the output side closes its own at the end).
    /// </summary>
    public static ConsoleIo? Open(string? fifoPath, PseudoTerminal? terminal, int stdinWrite, bool input, out string? error)
    {
        error = null;
        if (fifoPath is null)
        {
            return null;
        }
        var fifo = Libc.open(fifoPath, Libc.O_RDWR | Libc.O_NONBLOCK | Libc.O_CLOEXEC, 0);
        if (fifo < 0)
        {
            error = $"console channel {fifoPath}: {Libc.ErrorText(Marshal.GetLastPInvokeError())}";
            return null;
        }
        var target = terminal is not null ? Libc.fcntl(terminal.MasterFd, F_DUPFD_CLOEXEC, 3) : stdinWrite;
        if (target >= 0)
        {
            // Shared with the master's output side when a terminal: that side takes EAGAIN as "nothing yet".
            Libc.fcntl(target, F_SETFL, Libc.fcntl(target, F_GETFL, 0) | Libc.O_NONBLOCK);
        }
        var console = new ConsoleIo(fifo, terminal, target, input);
        // What came before the start (input typed ahead, a resize sent between create and start): taken before the
        // runtime starts, so a size there is the one runc's first copy gives the container. The size given at create
        // comes as SupervisorConfig.TerminalSize instead (and as the bundle's process.consoleSize).
        console.ReadFrames();
        return console;
    }

    /// <summary>The workload's pid, for SIGWINCH.</summary>
    public void Started(int pid) => _workload = pid;

    /// <summary>Fills two poll entries: the FIFO (when nothing is waiting to be written) and the target (when something is).</summary>
    public void Prepare(Libc.PollFd* polls)
    {
        var pending = _pendingEnd > _pendingStart || (_closeWhenWritten && _target >= 0);
        polls[0] = new Libc.PollFd { Fd = pending ? -1 : _fifo, Events = Libc.POLLIN };
        polls[1] = new Libc.PollFd { Fd = pending && _target >= 0 ? _target : -1, Events = POLLOUT };
    }

    private const short POLLOUT = 0x4;

    /// <summary>Milliseconds until the next SIGWINCH nudge, or -1.</summary>
    public int NextTimeoutMs()
    {
        if (_nudges.Count == 0)
        {
            return -1;
        }
        return (int)Math.Max(0, _nudges.Min() - Environment.TickCount64);
    }

    public void Handle(Libc.PollFd* polls)
    {
        if ((polls[0].Revents & Libc.POLLIN) != 0)
        {
            ReadFrames();
        }
        if (_target >= 0 && (_pendingEnd > _pendingStart || _closeWhenWritten))
        {
            WritePending();
        }
        var now = Environment.TickCount64;
        if (_nudges.RemoveAll(t => t <= now) > 0)
        {
            SignalSize();
        }
    }

    private void ReadFrames()
    {
        var free = _reader.Free();
        nint n;
        fixed (byte* p = free)
        {
            n = Libc.read(_fifo, p, (nuint)free.Length);
        }
        if (n <= 0)
        {
            return;
        }
        _reader.Filled((int)n);
        while (_reader.TryNext(out var kind, out var payload))
        {
            switch (kind)
            {
                case ConsoleChannel.Input when _input && _target >= 0 && !_closeWhenWritten:
                    Queue(payload);
                    break;
                case ConsoleChannel.EndOfInput when _input && _target >= 0:
                    if (_terminal is not null)
                    {
                        Queue([0x04]); // a terminal has no end of input, only the EOF character
                    }
                    else
                    {
                        _closeWhenWritten = true;
                    }
                    break;
                case ConsoleChannel.Size when _terminal is not null:
                    var (columns, rows) = ConsoleChannel.Reader.ReadSize(payload);
                    if (columns > 0 && rows > 0)
                    {
                        _terminal.Resize(columns, rows);
                        SignalSize(); // no-op before the start
                        var now = Environment.TickCount64;
                        _nudges.Clear();
                        _nudges.AddRange(s_nudgeMs.Select(ms => now + ms));
                    }
                    break;
            }
        }
    }

    private void Queue(ReadOnlySpan<byte> data)
    {
        if (_pendingStart == _pendingEnd)
        {
            _pendingStart = _pendingEnd = 0;
        }
        var room = _pending.Length - _pendingEnd;
        // Never more than one read of the FIFO is queued (the FIFO is not read while input waits): always fits.
        var n = Math.Min(room, data.Length);
        data[..n].CopyTo(_pending.AsSpan(_pendingEnd));
        _pendingEnd += n;
    }

    private void WritePending()
    {
        while (_pendingEnd > _pendingStart)
        {
            nint n;
            fixed (byte* p = &_pending[_pendingStart])
            {
                n = Libc.write(_target, p, (nuint)(_pendingEnd - _pendingStart));
            }
            if (n > 0)
            {
                _pendingStart += (int)n;
                continue;
            }
            var errno = Marshal.GetLastPInvokeError();
            if (n < 0 && (errno == EAGAIN || errno == Libc.EINTR))
            {
                return; // full: poll says when it has room
            }
            // The reader is gone (the workload closed its input): drop what is left, as a closed pipe would.
            _pendingStart = _pendingEnd = 0;
            CloseTarget();
            return;
        }
        if (_closeWhenWritten)
        {
            CloseTarget();
        }
    }

    private void CloseTarget()
    {
        if (_target >= 0)
        {
            Libc.close(_target);
            _target = -1;
        }
        _closeWhenWritten = false;
    }

    private void SignalSize()
    {
        if (_workload > 1)
        {
            Libc.kill(_workload, SIGWINCH);
        }
    }
}
