using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Strata.Node.Supervision;

/// <summary>
/// The console channel of a main process with a terminal or with input: a FIFO in the instance directory
/// (<see cref="FileName"/>, 0600, made at create) that the daemon writes and the supervisor reads. Made before the
/// first start and opened read-write on both sides, so nothing blocks on the other side being there and input
/// typed before the start waits in the FIFO. One frame is a kind byte, a little-endian uint16 payload length and
/// the payload, at most <see cref="MaxFrameBytes"/> (PIPE_BUF) so that the kernel writes it whole. Linked into the
/// supervisor.
/// </summary>
public static partial class ConsoleChannel
{
    public const string FileName = "console.fifo";

    /// <summary>Bytes for the workload's input.</summary>
    public const byte Input = (byte)'i';

    /// <summary>The terminal's size: uint16 columns, uint16 rows.</summary>
    public const byte Size = (byte)'w';

    /// <summary>The input has ended (a pipe is closed; a terminal gets the EOF character, ^D).</summary>
    public const byte EndOfInput = (byte)'e';

    public const int HeaderBytes = 3;
    public const int MaxFrameBytes = 4096;
    public const int MaxPayloadBytes = MaxFrameBytes - HeaderBytes;

    public static string PathIn(string instanceDirectory) => Path.Combine(instanceDirectory, FileName);

    /// <summary>Makes the FIFO (owner only) unless it is there.</summary>
    public static void Create(string path)
    {
        const int EEXIST = 17;
        if (mkfifo(path, 0x180) != 0 && Marshal.GetLastPInvokeError() is var errno && errno != EEXIST)
        {
            throw new IOException($"mkfifo {path}: {Marshal.GetPInvokeErrorMessage(errno)}");
        }
    }

    /// <summary>Keeps the FIFO (and what is written to it) alive while no supervisor has it open.</summary>
    public static IDisposable Hold(string path) => new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, bufferSize: 0);

    /// <summary>The daemon's side: null when the instance has no console channel.</summary>
    public static Writer? OpenWriter(string path) => File.Exists(path) ? new Writer(path) : null;

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int mkfifo(string path, uint mode);

    /// <summary>Writes frames; one caller at a time per frame (frames of several writers never interleave).</summary>
    public sealed class Writer : IDisposable
    {
        private readonly FileStream _fifo;
        private readonly SemaphoreSlim _lock = new(1, 1);

        internal Writer(string path)
        {
            // Read-write: never waits for the supervisor (it may not have started yet, or be gone).
            _fifo = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, bufferSize: 0);
        }

        public async Task WriteInputAsync(ReadOnlyMemory<byte> data, CancellationToken ct)
        {
            while (!data.IsEmpty)
            {
                var n = Math.Min(data.Length, MaxPayloadBytes);
                await WriteFrameAsync(Frame(Input, data.Span[..n]), ct).ConfigureAwait(false);
                data = data[n..];
            }
        }

        public Task ResizeAsync(ushort columns, ushort rows, CancellationToken ct)
        {
            Span<byte> size = stackalloc byte[4];
            BinaryPrimitives.WriteUInt16LittleEndian(size, columns);
            BinaryPrimitives.WriteUInt16LittleEndian(size[2..], rows);
            return WriteFrameAsync(Frame(Size, size), ct);
        }

        public Task EndInputAsync(CancellationToken ct) => WriteFrameAsync(Frame(EndOfInput, []), ct);

        private static byte[] Frame(byte kind, ReadOnlySpan<byte> payload)
        {
            var frame = new byte[HeaderBytes + payload.Length];
            frame[0] = kind;
            BinaryPrimitives.WriteUInt16LittleEndian(frame.AsSpan(1), (ushort)payload.Length);
            payload.CopyTo(frame.AsSpan(HeaderBytes));
            return frame;
        }

        private async Task WriteFrameAsync(byte[] frame, CancellationToken ct)
        {
            await _lock.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                await _fifo.WriteAsync(frame, ct).ConfigureAwait(false);
            }
            finally
            {
                _lock.Release();
            }
        }

        public void Dispose()
        {
            _fifo.Dispose();
            _lock.Dispose();
        }
    }

    /// <summary>The supervisor's side: bytes read from the FIFO in, whole frames out (a read may end inside one).</summary>
    public sealed class Reader
    {
        private readonly byte[] _buffer = new byte[64 * 1024];
        private int _start;
        private int _end;

        /// <summary>Room to read into; compacts what is left of a frame to the front first.</summary>
        public Span<byte> Free()
        {
            if (_start > 0)
            {
                _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
                _end -= _start;
                _start = 0;
            }
            return _buffer.AsSpan(_end);
        }

        public void Filled(int count) => _end += count;

        public bool TryNext(out byte kind, out ReadOnlySpan<byte> payload)
        {
            kind = 0;
            payload = default;
            if (_end - _start < HeaderBytes)
            {
                return false;
            }
            var length = BinaryPrimitives.ReadUInt16LittleEndian(_buffer.AsSpan(_start + 1));
            if (_end - _start < HeaderBytes + length)
            {
                return false;
            }
            kind = _buffer[_start];
            payload = _buffer.AsSpan(_start + HeaderBytes, length);
            _start += HeaderBytes + length;
            return true;
        }

        public static (ushort Columns, ushort Rows) ReadSize(ReadOnlySpan<byte> payload) =>
            payload.Length >= 4 ? (BinaryPrimitives.ReadUInt16LittleEndian(payload), BinaryPrimitives.ReadUInt16LittleEndian(payload[2..])) : ((ushort)0, (ushort)0);
    }
}
