using System.Buffers.Text;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Win32.SafeHandles;
using Strata.Contracts;
using Strata.Node.Supervision;

namespace Strata.Node.Logs;

/// <summary>
/// Reads the CRI log files that <see cref="CriLogWriter"/> writes: the tail across current.log.1 and
/// current.log, and a follow mode that survives rotation. "Lines" are records: a line longer than
/// 16 KiB is stored (and counted) as several records, the last of which is not partial.
/// </summary>
public sealed class CriLogReader
{
    private const int ChunkBytes = 64 * 1024;
    private const int MaxRecordBytes = 1024 * 1024;
    private static readonly TimeSpan s_pollInterval = TimeSpan.FromMilliseconds(20);

    private CriLogReader()
    {
    }

    /// <summary>All records, or the last <paramref name="tail"/> of them, oldest first.</summary>
    public static IReadOnlyList<LogRecord> ReadTail(string logDir, int? tail)
    {
        ArgumentException.ThrowIfNullOrEmpty(logDir);
        if (tail is < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(tail), tail, "tail must be ≥ 0");
        }
        var records = new List<LogRecord>();
        if (tail == 0)
        {
            return records;
        }
        using var current = TryOpen(Path.Combine(logDir, LogFileNames.Current));
        ReadSnapshot(logDir, current, tail, records, out _);
        return records;
    }

    /// <summary>
    /// Emits the existing records (or their last <paramref name="tail"/>), then new ones as they are
    /// written, across rotations. Ends once <paramref name="isFinished"/> has returned true and all
    /// that was written before has been read.
    /// </summary>
    public static IAsyncEnumerable<LogRecord> FollowAsync(string logDir, int? tail, Func<bool> isFinished, CancellationToken ct) =>
        FollowAsync(logDir, tail, isFinished, finishedSignal: null, ct);

    /// <summary>
    /// As above; <paramref name="finishedSignal"/> completes when the workload has finished, so the last
    /// output is delivered at once instead of at the next poll.
    /// </summary>
    private static async Task PauseAsync(Task? finishedSignal, CancellationToken ct)
    {
        if (finishedSignal is null || finishedSignal.IsCompleted)
        {
            await Task.Delay(s_pollInterval, ct).ConfigureAwait(false);
            return;
        }
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var delay = Task.Delay(s_pollInterval, cts.Token);
        await Task.WhenAny(delay, finishedSignal).ConfigureAwait(false);
        await cts.CancelAsync().ConfigureAwait(false);
        ct.ThrowIfCancellationRequested();
    }

    public static async IAsyncEnumerable<LogRecord> FollowAsync(
        string logDir, int? tail, Func<bool> isFinished, Task? finishedSignal, [EnumeratorCancellation] CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrEmpty(logDir);
        ArgumentNullException.ThrowIfNull(isFinished);
        if (tail is < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(tail), tail, "tail must be ≥ 0");
        }
        var currentPath = Path.Combine(logDir, LogFileNames.Current);
        var batch = new List<LogRecord>();
        SafeFileHandle? current = null;
        try
        {
            // The log may not exist yet (the workload has not started): wait for it, or for the end.
            while ((current = TryOpen(currentPath)) is null)
            {
                var finishedBefore = isFinished();
                if (File.Exists(currentPath))
                {
                    continue;
                }
                if (finishedBefore)
                {
                    yield break;
                }
                await PauseAsync(finishedSignal, ct).ConfigureAwait(false);
            }

            long offset = 0;
            if (tail != 0)
            {
                ReadSnapshot(logDir, current, tail, batch, out offset);
            }
            else
            {
                offset = CompleteLength(current);
            }
            foreach (var record in batch)
            {
                yield return record;
            }

            var buffer = new byte[ChunkBytes];
            while (true)
            {
                ct.ThrowIfCancellationRequested();
                // Asked before reading: if it was finished then, everything it wrote is read below.
                var finished = isFinished();
                batch.Clear();
                var before = offset;
                ReadComplete(current, ref offset, ref buffer, batch);
                foreach (var record in batch)
                {
                    yield return record;
                }
                if (offset != before)
                {
                    continue;
                }
                var onDisk = Libc.FileId(currentPath);
                if (onDisk is not null && onDisk != Libc.FileId(current))
                {
                    // Rotated: the writer flushed the old file before renaming it; read its rest, then switch.
                    batch.Clear();
                    ReadComplete(current, ref offset, ref buffer, batch);
                    foreach (var record in batch)
                    {
                        yield return record;
                    }
                    var next = TryOpen(currentPath);
                    if (next is not null)
                    {
                        current.Dispose();
                        current = next;
                        offset = 0;
                        continue;
                    }
                }
                if (finished)
                {
                    yield break;
                }
                await PauseAsync(finishedSignal, ct).ConfigureAwait(false);
            }
        }
        finally
        {
            current?.Dispose();
        }
    }

    /// <summary>Parses one CRI line (without its newline). Accepts any RFC 3339 timestamp and tags like <c>F</c>, <c>P</c>, <c>P:x</c>.</summary>
    public static bool TryParse(ReadOnlySpan<byte> line, out LogRecord record)
    {
        record = null!;
        var s1 = line.IndexOf((byte)' ');
        if (s1 <= 0)
        {
            return false;
        }
        var rest = line[(s1 + 1)..];
        var s2 = rest.IndexOf((byte)' ');
        if (s2 <= 0)
        {
            return false;
        }
        var stream = rest[..s2];
        rest = rest[(s2 + 1)..];
        var s3 = rest.IndexOf((byte)' ');
        var tag = s3 < 0 ? rest : rest[..s3];
        var text = s3 < 0 ? [] : rest[(s3 + 1)..];
        if (tag.IsEmpty || !TryParseTime(line[..s1], out var time))
        {
            return false;
        }
        var streamName = stream.SequenceEqual("stdout"u8) ? "stdout"
            : stream.SequenceEqual("stderr"u8) ? "stderr"
            : Encoding.UTF8.GetString(stream);
        record = new LogRecord(time, streamName, Encoding.UTF8.GetString(text), tag[0] == (byte)'P');
        return true;
    }

    /// <summary>Reads rotated + current (or their last <paramref name="tail"/> records) into <paramref name="output"/>.</summary>
    private static void ReadSnapshot(string logDir, SafeFileHandle? current, int? tail, List<LogRecord> output, out long currentEnd)
    {
        currentEnd = 0;
        var buffer = new byte[ChunkBytes];
        var fromCurrent = new List<LogRecord>();
        var needed = tail ?? int.MaxValue;
        if (current is not null)
        {
            currentEnd = CompleteLength(current);
            var start = tail is null ? 0 : FindTailStart(current, currentEnd, needed, buffer, out _);
            var offset = start;
            ReadComplete(current, ref offset, ref buffer, fromCurrent, currentEnd);
            needed -= Math.Min(needed, fromCurrent.Count);
        }
        if (needed > 0)
        {
            // Opened after current: if a rotation happened in between, this is the file we already read.
            using var rotated = TryOpen(Path.Combine(logDir, LogFileNames.Rotated));
            if (rotated is not null && (current is null || Libc.FileId(rotated) != Libc.FileId(current)))
            {
                var end = CompleteLength(rotated);
                var offset = tail is null ? 0 : FindTailStart(rotated, end, needed, buffer, out _);
                ReadComplete(rotated, ref offset, ref buffer, output, end);
            }
        }
        output.AddRange(fromCurrent);
    }

    /// <summary>Length up to and including the last newline (a record being written is not yet complete).</summary>
    private static long CompleteLength(SafeFileHandle file)
    {
        var length = RandomAccess.GetLength(file);
        Span<byte> buffer = stackalloc byte[4096];
        var end = length;
        while (end > 0)
        {
            var size = (int)Math.Min(buffer.Length, end);
            var read = RandomAccess.Read(file, buffer[..size], end - size);
            if (read < size)
            {
                return 0;
            }
            var newline = buffer[..size].LastIndexOf((byte)'\n');
            if (newline >= 0)
            {
                return end - size + newline + 1;
            }
            end -= size;
        }
        return 0;
    }

    /// <summary>Offset of the first of the last <paramref name="count"/> complete lines before <paramref name="end"/>.</summary>
    private static long FindTailStart(SafeFileHandle file, long end, int count, byte[] buffer, out int found)
    {
        found = 0;
        // end - 1 is the newline of the last line; every newline before it starts another line.
        var position = end - 1;
        while (position > 0)
        {
            var size = (int)Math.Min(buffer.Length, position);
            var read = RandomAccess.Read(file, buffer.AsSpan(0, size), position - size);
            var chunk = buffer.AsSpan(0, read);
            while (true)
            {
                var newline = chunk.LastIndexOf((byte)'\n');
                if (newline < 0)
                {
                    break;
                }
                found++;
                if (found == count)
                {
                    return position - size + newline + 1;
                }
                chunk = chunk[..newline];
            }
            position -= size;
        }
        found = end > 0 ? found + 1 : 0;
        return 0;
    }

    /// <summary>Parses complete lines from <paramref name="offset"/> to <paramref name="limit"/> (or EOF) and advances past them.</summary>
    private static void ReadComplete(SafeFileHandle file, ref long offset, ref byte[] buffer, List<LogRecord> output, long limit = long.MaxValue)
    {
        var filled = 0;
        while (offset + filled < limit)
        {
            var want = (int)Math.Min(buffer.Length - filled, limit - offset - filled);
            var read = RandomAccess.Read(file, buffer.AsSpan(filled, want), offset + filled);
            if (read <= 0)
            {
                return;
            }
            filled += read;
            var data = buffer.AsSpan(0, filled);
            var consumed = 0;
            while (true)
            {
                var newline = data[consumed..].IndexOf((byte)'\n');
                if (newline < 0)
                {
                    break;
                }
                if (TryParse(data.Slice(consumed, newline), out var record))
                {
                    output.Add(record);
                }
                consumed += newline + 1;
            }
            offset += consumed;
            if (consumed == 0 && filled == buffer.Length)
            {
                if (buffer.Length >= MaxRecordBytes)
                {
                    // Not a record this writer makes: skip the garbage rather than stall.
                    offset += filled;
                    filled = 0;
                    continue;
                }
                Array.Resize(ref buffer, buffer.Length * 2);
                continue;
            }
            data[consumed..].CopyTo(buffer);
            filled -= consumed;
        }
    }

    private static SafeFileHandle? TryOpen(string path)
    {
        try
        {
            return File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        catch (DirectoryNotFoundException)
        {
            return null;
        }
    }

    private static bool TryParseTime(ReadOnlySpan<byte> text, out DateTimeOffset time)
    {
        // Fast path for what the writer produces: yyyy-MM-ddTHH:mm:ss.fffffffffZ.
        time = default;
        if (text.Length >= 20 && text[^1] == (byte)'Z' && text[4] == (byte)'-' && text[10] == (byte)'T'
            && Utf8Parser.TryParse(text[..4], out int year, out _) && Utf8Parser.TryParse(text.Slice(5, 2), out int month, out _)
            && Utf8Parser.TryParse(text.Slice(8, 2), out int day, out _) && Utf8Parser.TryParse(text.Slice(11, 2), out int hour, out _)
            && Utf8Parser.TryParse(text.Slice(14, 2), out int minute, out _) && Utf8Parser.TryParse(text.Slice(17, 2), out int second, out _))
        {
            long ticks = 0;
            if (text.Length > 21 && text[19] == (byte)'.')
            {
                var fraction = text[20..^1];
                for (var i = 0; i < 7; i++)
                {
                    ticks = ticks * 10 + (i < fraction.Length ? fraction[i] - '0' : 0);
                }
            }
            try
            {
                time = new DateTimeOffset(year, month, day, hour, minute, second, TimeSpan.Zero).AddTicks(ticks);
                return true;
            }
            catch (ArgumentOutOfRangeException)
            {
                return false;
            }
        }
        return DateTimeOffset.TryParse(Encoding.ASCII.GetString(text), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out time);
    }
}
