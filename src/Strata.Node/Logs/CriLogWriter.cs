using System.Globalization;
using Microsoft.Win32.SafeHandles;
using Strata.Contracts.Host;

namespace Strata.Node.Logs;

/// <summary>
/// Writes an instance's output as Kubernetes CRI log lines:
/// <c>2026-11-26T12:00:00.123456789Z stdout F text</c>, where <c>F</c> marks a complete line (it ended in
/// a newline, which is not stored) and <c>P</c> a piece without one: a line longer than
/// <see cref="MaxLineBytes"/> is split into P pieces closed by an F piece, and output left without a
/// newline when a stream ends becomes a final P record.
///
/// Bounded: before current.log would grow past the size limit it is renamed to current.log.1
/// (replacing the older one) and a new current.log is started, so the two files together never
/// exceed 2 × the limit (plus one record when a single record is larger than the limit).
///
/// Shared (linked) with the NativeAOT supervisor: no reflection, and no allocation per line.
/// Not thread-safe: one writer per instance, used from one thread at a time.
/// </summary>
public sealed class CriLogWriter : IDisposable
{
    /// <summary>Longest line stored as one record (containerd uses the same 16 KiB).</summary>
    public const int MaxLineBytes = 16 * 1024;

    private const int BufferBytes = 64 * 1024;
    private const int TimestampBytes = 30; // 2026-11-26T12:00:00.123456789Z

    private readonly string _currentPath;
    private readonly string _rotatedPath;
    private readonly long _maxBytes;
    private readonly TimeProvider _time;
    private readonly byte[] _buffer = new byte[BufferBytes];
    private readonly byte[] _timestamp = new byte[TimestampBytes];
    private readonly PendingLine _stdout = new("stdout"u8.ToArray());
    private readonly PendingLine _stderr = new("stderr"u8.ToArray());
    private SafeFileHandle? _file;
    private long _fileLength;
    private int _buffered;
    private bool _disposed;

    public CriLogWriter(string logDir, long maxBytes)
        : this(logDir, maxBytes, TimeProvider.System)
    {
    }

    public CriLogWriter(string logDir, long maxBytes, TimeProvider time)
    {
        ArgumentException.ThrowIfNullOrEmpty(logDir);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBytes, 1);
        ArgumentNullException.ThrowIfNull(time);
        PrivatePaths.CreateDirectory(logDir); // workload output: private to the daemon (docs/security.md)
        _currentPath = Path.Combine(logDir, LogFileNames.Current);
        _rotatedPath = Path.Combine(logDir, LogFileNames.Rotated);
        _maxBytes = maxBytes;
        _time = time;
        // Append: a restarted workload keeps the log of its earlier runs.
        _file = File.OpenHandle(_currentPath, FileMode.OpenOrCreate, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
        File.SetUnixFileMode(_file, PrivatePaths.FileMode);
        _fileLength = RandomAccess.GetLength(_file);
    }

    /// <summary>Bytes of log records lost because the disk refused them (full, I/O error).</summary>
    public long DroppedBytes { get; private set; }

    /// <summary>Records <paramref name="data"/> as written by the workload to <paramref name="stream"/> ("stdout" or "stderr").</summary>
    public void Write(string stream, ReadOnlySpan<byte> data)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var pending = PendingFor(stream);
        if (data.IsEmpty)
        {
            return;
        }
        FormatTimestamp();
        while (!data.IsEmpty)
        {
            var newline = data.IndexOf((byte)'\n');
            var segment = newline >= 0 ? data[..newline] : data;
            var room = MaxLineBytes - pending.Length;
            if (segment.Length > room)
            {
                // Too long for one record: emit a full-size P piece and go on with the rest.
                pending.Append(segment[..room]);
                EmitPending(pending, partial: true);
                data = data[room..];
                continue;
            }
            if (newline < 0)
            {
                pending.Append(segment);
                break;
            }
            EmitRecord(pending.Tag, pending.Span, segment, partial: false);
            pending.Length = 0;
            data = data[(newline + 1)..];
        }
    }

    /// <summary>The stream has ended: output left without a trailing newline becomes a P record.</summary>
    public void EndOfStream(string stream)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var pending = PendingFor(stream);
        if (pending.Length > 0)
        {
            FormatTimestamp();
            EmitPending(pending, partial: true);
        }
    }

    /// <summary>Writes buffered records to the file (not fsynced). Incomplete lines stay pending until their newline.</summary>
    public void Flush()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        FlushBuffer();
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        EndOfStream("stdout");
        EndOfStream("stderr");
        FlushBuffer();
        _file?.Dispose();
        _file = null;
        _disposed = true;
    }

    private PendingLine PendingFor(string stream) => stream switch
    {
        "stdout" => _stdout,
        "stderr" => _stderr,
        _ => throw new ArgumentException("stream must be \"stdout\" or \"stderr\"", nameof(stream)),
    };

    private void EmitPending(PendingLine pending, bool partial)
    {
        EmitRecord(pending.Tag, pending.Span, [], partial);
        pending.Length = 0;
    }

    private void EmitRecord(ReadOnlySpan<byte> tag, ReadOnlySpan<byte> head, ReadOnlySpan<byte> tail, bool partial)
    {
        long size = TimestampBytes + 1 + tag.Length + 3 + head.Length + tail.Length + 1;
        var used = _fileLength + _buffered;
        if (used > 0 && used + size > _maxBytes)
        {
            Rotate();
        }
        Append(_timestamp);
        Append(" "u8);
        Append(tag);
        Append(partial ? " P "u8 : " F "u8);
        Append(head);
        Append(tail);
        Append("\n"u8);
    }

    private void Append(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length > BufferBytes - _buffered)
        {
            FlushBuffer();
            if (bytes.Length > BufferBytes)
            {
                WriteToFile(bytes);
                return;
            }
        }
        bytes.CopyTo(_buffer.AsSpan(_buffered));
        _buffered += bytes.Length;
    }

    private void FlushBuffer()
    {
        if (_buffered == 0)
        {
            return;
        }
        var count = _buffered;
        _buffered = 0;
        WriteToFile(_buffer.AsSpan(0, count));
    }

    private void WriteToFile(ReadOnlySpan<byte> bytes)
    {
        if (_file is null)
        {
            DroppedBytes += bytes.Length;
            return;
        }
        try
        {
            RandomAccess.Write(_file, bytes, _fileLength);
            _fileLength += bytes.Length;
        }
        catch (IOException)
        {
            // A full disk must not take the workload's supervisor down: drop the output, keep going.
            DroppedBytes += bytes.Length;
        }
    }

    private void Rotate()
    {
        FlushBuffer();
        _file?.Dispose();
        _file = null;
        try
        {
            File.Move(_currentPath, _rotatedPath, overwrite: true);
        }
        catch (IOException)
        {
            // Could not rename: truncating below still keeps the log bounded.
        }
        try
        {
            _file = File.OpenHandle(_currentPath, FileMode.Create, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
            File.SetUnixFileMode(_file, PrivatePaths.FileMode);
        }
        catch (IOException)
        {
            _file = null; // counted as dropped until a later rotation succeeds
        }
        _fileLength = 0;
    }

    private void FormatTimestamp()
    {
        var now = _time.GetUtcNow().UtcDateTime;
        var span = _timestamp.AsSpan();
        now.TryFormat(span, out var written, "yyyy-MM-dd'T'HH:mm:ss.fffffff", CultureInfo.InvariantCulture);
        // DateTime has 100 ns resolution; CRI timestamps carry nanoseconds.
        "00Z"u8.CopyTo(span[written..]);
    }

    private sealed class PendingLine(byte[] tag)
    {
        // Allocated on first use: most streams (often stderr) never hold a partial line.
        private byte[]? _bytes;

        public byte[] Tag { get; } = tag;
        public int Length { get; set; }
        public ReadOnlySpan<byte> Span => _bytes is null ? default : _bytes.AsSpan(0, Length);

        public void Append(ReadOnlySpan<byte> data)
        {
            if (data.IsEmpty)
            {
                return;
            }
            _bytes ??= new byte[MaxLineBytes];
            data.CopyTo(_bytes.AsSpan(Length));
            Length += data.Length;
        }
    }
}

/// <summary>File names inside an instance's log directory (shared by writer and reader).</summary>
public static class LogFileNames
{
    public const string Current = "current.log";
    public const string Rotated = "current.log.1";
}
