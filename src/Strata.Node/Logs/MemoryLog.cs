using System.Text;
using Strata.Contracts;
using Strata.Contracts.Drivers;

namespace Strata.Node.Logs;

/// <summary>
/// An instance's output kept in memory instead of a CRI log file, for instances that never outlive the daemon
/// and are removed when they end (an auto-removed wasm run): no file is created, written, read back or deleted.
/// Records have the CRI file's shape and rules: one record per line (the newline not stored), a line longer than
/// <see cref="CriLogWriter.MaxLineBytes"/> split into partial pieces, and output left without a newline when a
/// stream ends becomes a final partial record.
///
/// Bounded like the files: once the kept records exceed 2 × the size limit (the two files' bound), the oldest are
/// dropped (<see cref="DroppedRecords"/> counts them). Readers follow by position without polling:
/// <see cref="WaitAsync"/> completes as soon as a record beyond the reader's position is written.
/// Thread-safe: one writer (the run) and any number of readers.
/// </summary>
public sealed class MemoryLog : IMemoryLog
{
    private const int RecordOverheadBytes = 40; // what a record costs beyond its text in the CRI file (timestamp, stream, tag)

    private readonly Lock _lock = new();
    private readonly long _maxBytes;
    private readonly TimeProvider _time;
    private readonly List<LogRecord> _records = [];
    private readonly Pending _stdout = new("stdout");
    private readonly Pending _stderr = new("stderr");
    private int _head;           // index in _records of the oldest kept record
    private long _headPosition;  // position (count of records ever written before it) of that record
    private long _bytes;
    private long _written;       // records ever written: the position after the newest
    private TaskCompletionSource? _waiter;

    /// <param name="maxBytes">The per-file size limit of the file logs; memory keeps at most twice that.</param>
    public MemoryLog(long maxBytes, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBytes, 1);
        _maxBytes = maxBytes;
        _time = time;
    }

    /// <summary>Records dropped (oldest first) to stay within the bound.</summary>
    public long DroppedRecords { get; private set; }

    /// <summary>Position after the newest record: the count of records ever written.</summary>
    public long End
    {
        get
        {
            lock (_lock)
            {
                return _written;
            }
        }
    }

    /// <summary>Records <paramref name="data"/> as written by the workload to <paramref name="stream"/> ("stdout" or "stderr").</summary>
    public void Write(string stream, ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty)
        {
            return;
        }
        var now = _time.GetUtcNow();
        TaskCompletionSource? wake;
        lock (_lock)
        {
            var pending = PendingFor(stream);
            var before = _written;
            while (!data.IsEmpty)
            {
                var newline = data.IndexOf((byte)'\n');
                var segment = newline >= 0 ? data[..newline] : data;
                var room = CriLogWriter.MaxLineBytes - pending.Length;
                if (segment.Length > room)
                {
                    pending.Append(segment[..room]);
                    AddLocked(now, pending, [], partial: true);
                    data = data[room..];
                    continue;
                }
                if (newline < 0)
                {
                    pending.Append(segment);
                    break;
                }
                AddLocked(now, pending, segment, partial: false);
                data = data[(newline + 1)..];
            }
            // Only whole records wake readers; an unfinished line waits for its newline.
            wake = _written != before ? TakeWaiterLocked() : null;
        }
        wake?.TrySetResult();
    }

    /// <summary>The stream has ended: output left without a trailing newline becomes a partial record.</summary>
    public void EndOfStream(string stream)
    {
        TaskCompletionSource? wake;
        lock (_lock)
        {
            var pending = PendingFor(stream);
            if (pending.Length == 0)
            {
                return;
            }
            AddLocked(_time.GetUtcNow(), pending, [], partial: true);
            wake = TakeWaiterLocked();
        }
        wake?.TrySetResult();
    }

    /// <summary>
    /// Appends the records from <paramref name="position"/> on to <paramref name="output"/> and moves the position
    /// past them. A position older than the oldest kept record continues from that record.
    /// </summary>
    public void Read(ref long position, List<LogRecord> output)
    {
        lock (_lock)
        {
            var from = Math.Max(position, _headPosition);
            for (var i = _head + (int)(from - _headPosition); i < _records.Count; i++)
            {
                output.Add(_records[i]);
            }
            position = _written;
        }
    }

    /// <summary>The last <paramref name="tail"/> records (all when null), oldest first.</summary>
    public IReadOnlyList<LogRecord> ReadTail(int? tail)
    {
        var output = new List<LogRecord>();
        long position = 0;
        if (tail is { } n)
        {
            position = Math.Max(0, End - n);
        }
        Read(ref position, output);
        return output;
    }

    /// <summary>Completes when a record beyond <paramref name="position"/> exists (at once if one does already).</summary>
    public Task WaitAsync(long position)
    {
        lock (_lock)
        {
            if (_written > position)
            {
                return Task.CompletedTask;
            }
            _waiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _waiter.Task;
        }
    }

    private TaskCompletionSource? TakeWaiterLocked()
    {
        var waiter = _waiter;
        _waiter = null;
        return waiter;
    }

    private Pending PendingFor(string stream) => stream switch
    {
        "stdout" => _stdout,
        "stderr" => _stderr,
        _ => throw new ArgumentException("stream must be \"stdout\" or \"stderr\"", nameof(stream)),
    };

    private void AddLocked(DateTimeOffset time, Pending pending, ReadOnlySpan<byte> tail, bool partial)
    {
        string text;
        int size;
        if (pending.Length == 0)
        {
            text = Encoding.UTF8.GetString(tail);
            size = tail.Length;
        }
        else
        {
            pending.Append(tail);
            text = Encoding.UTF8.GetString(pending.Span);
            size = pending.Length;
        }
        size += RecordOverheadBytes;
        pending.Length = 0;
        _records.Add(new LogRecord(time, pending.Stream, text, partial));
        _written++;
        _bytes += size;
        // Keep at most 2 × the limit, as the rotated pair of files does; always keep the newest record.
        while (_bytes > 2 * _maxBytes && _records.Count - _head > 1)
        {
            _bytes -= Encoding.UTF8.GetByteCount(_records[_head].Text) + RecordOverheadBytes;
            _records[_head] = null!;
            _head++;
            _headPosition++;
            DroppedRecords++;
        }
        if (_head > 1024 && _head > _records.Count / 2)
        {
            _records.RemoveRange(0, _head);
            _head = 0;
        }
    }

    /// <summary>A line being collected until its newline (at most <see cref="CriLogWriter.MaxLineBytes"/>).</summary>
    private sealed class Pending(string stream)
    {
        private byte[] _buffer = [];

        public string Stream { get; } = stream;
        public int Length { get; set; }
        public ReadOnlySpan<byte> Span => _buffer.AsSpan(0, Length);

        public void Append(ReadOnlySpan<byte> bytes)
        {
            if (Length + bytes.Length > _buffer.Length)
            {
                Array.Resize(ref _buffer, Math.Max(256, Math.Max(Length + bytes.Length, _buffer.Length * 2)));
            }
            bytes.CopyTo(_buffer.AsSpan(Length));
            Length += bytes.Length;
        }
    }
}
