using System.Text;
using Strata.Contracts;
using Strata.Node.Logs;

namespace Strata.Node.Tests.Logs;

public sealed class CriLogTests
{
    private static string Reconstruct(IEnumerable<LogRecord> records, string stream) =>
        string.Concat(records.Where(r => r.Stream == stream).Select(r => r.Text + (r.Partial ? "" : "\n")));

    [Fact]
    public void Write_LinesSplitAcrossChunks_StoredAsWholeLines()
    {
        using var dir = new TempDir();
        using (var writer = new CriLogWriter(dir.Path, 1 << 20))
        {
            writer.Write("stdout", "hel"u8);
            writer.Write("stdout", "lo\nwor"u8);
            writer.Write("stderr", "oops\n"u8);
            writer.Write("stdout", "ld\n\n"u8);
        }

        var records = CriLogReader.ReadTail(dir.Path, null);

        Assert.Equal(
            [("stdout", "hello", false), ("stderr", "oops", false), ("stdout", "world", false), ("stdout", "", false)],
            records.Select(r => (r.Stream, r.Text, r.Partial)));
    }

    [Fact]
    public void Write_NoTrailingNewline_LastRecordPartialAndExactReconstruction()
    {
        using var dir = new TempDir();
        using (var writer = new CriLogWriter(dir.Path, 1 << 20))
        {
            writer.Write("stdout", "a\nb"u8);
        }

        var records = CriLogReader.ReadTail(dir.Path, null);

        Assert.Equal([("a", false), ("b", true)], records.Select(r => (r.Text, r.Partial)));
        Assert.Equal("a\nb", Reconstruct(records, "stdout"));
    }

    [Fact]
    public void Write_LineLongerThanLimit_SplitIntoPartialPieces()
    {
        using var dir = new TempDir();
        var line = new string('x', CriLogWriter.MaxLineBytes * 2 + 100);
        using (var writer = new CriLogWriter(dir.Path, 1 << 20))
        {
            writer.Write("stdout", Encoding.ASCII.GetBytes(line + "\nend\n"));
        }

        var records = CriLogReader.ReadTail(dir.Path, null);

        Assert.Equal([true, true, false, false], records.Select(r => r.Partial));
        Assert.Equal(CriLogWriter.MaxLineBytes, records[0].Text.Length);
        Assert.Equal(line + "\nend\n", Reconstruct(records, "stdout"));
    }

    [Fact]
    public void Write_RecordFormat_IsCri()
    {
        using var dir = new TempDir();
        var time = new FixedTime(new DateTimeOffset(2026, 11, 26, 12, 0, 0, TimeSpan.Zero).AddTicks(1234567));
        using (var writer = new CriLogWriter(dir.Path, 1 << 20, time))
        {
            writer.Write("stderr", "boom\n"u8);
        }

        var text = File.ReadAllText(Path.Combine(dir.Path, "current.log"));

        Assert.Equal("2026-11-26T12:00:00.123456700Z stderr F boom\n", text);
        Assert.Equal(time.GetUtcNow(), CriLogReader.ReadTail(dir.Path, null)[0].Time);
    }

    [Fact]
    public void Write_PastLimit_RotatesAndBoundsDiskUse()
    {
        using var dir = new TempDir();
        const long max = 64 * 1024;
        using (var writer = new CriLogWriter(dir.Path, max))
        {
            for (var i = 0; i < 20_000; i++)
            {
                writer.Write("stdout", Encoding.ASCII.GetBytes($"line {i}\n"));
            }
        }

        var current = new FileInfo(Path.Combine(dir.Path, "current.log")).Length;
        var rotated = new FileInfo(Path.Combine(dir.Path, "current.log.1")).Length;
        Assert.InRange(current, 1, max);
        Assert.InRange(rotated, max - 100, max);
        var tail = CriLogReader.ReadTail(dir.Path, 3);
        Assert.Equal(["line 19997", "line 19998", "line 19999"], tail.Select(r => r.Text));
    }

    [Fact]
    public void ReadTail_SpansRotatedAndCurrent_ReturnsLastN()
    {
        using var dir = new TempDir();
        // ~50 bytes per record: a 1000-byte limit rotates every ~20 records.
        using (var writer = new CriLogWriter(dir.Path, 1000))
        {
            for (var i = 0; i < 25; i++)
            {
                writer.Write("stdout", Encoding.ASCII.GetBytes($"n{i}\n"));
            }
        }
        var inCurrent = CriLogReader.ReadTail(dir.Path, null).Count;
        Assert.True(File.Exists(Path.Combine(dir.Path, "current.log.1")));

        var tail = CriLogReader.ReadTail(dir.Path, 10);

        Assert.Equal(Enumerable.Range(15, 10).Select(i => $"n{i}"), tail.Select(r => r.Text));
        Assert.True(inCurrent > 0);
        Assert.Empty(CriLogReader.ReadTail(dir.Path, 0));
    }

    [Fact]
    public void ReadTail_MissingDirectory_Empty()
    {
        Assert.Empty(CriLogReader.ReadTail(Path.Combine(Path.GetTempPath(), "strata-no-such-dir-" + Guid.NewGuid()), null));
    }

    [Fact]
    public async Task FollowAsync_WriterKeepsWritingAndRotating_AllRecordsInOrderThenEnds()
    {
        using var dir = new TempDir();
        var finished = false;
        const int count = 3000;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var writer = new CriLogWriter(dir.Path, 16 * 1024);
        writer.Write("stdout", "before\n"u8);
        writer.Flush();

        var follow = Task.Run(async () =>
        {
            var seen = new List<string>();
            await foreach (var record in CriLogReader.FollowAsync(dir.Path, null, () => Volatile.Read(ref finished), cts.Token))
            {
                seen.Add(record.Text);
            }
            return seen;
        });
        for (var i = 0; i < count; i++)
        {
            writer.Write("stdout", Encoding.ASCII.GetBytes($"line {i}\n"));
            if (i % 50 == 0)
            {
                writer.Flush();
                await Task.Delay(1);
            }
        }
        writer.Flush();
        Volatile.Write(ref finished, true);

        var seen = await follow;

        // The writer rotates every ~300 records; a follower polling every 20 ms keeps up at this pace.
        Assert.Equal(["before", .. Enumerable.Range(0, count).Select(i => $"line {i}")], seen);
    }

    [Fact]
    public async Task FollowAsync_WithTail_StartsWithLastRecordsThenFollows()
    {
        using var dir = new TempDir();
        var finished = false;
        using var writer = new CriLogWriter(dir.Path, 1 << 20);
        writer.Write("stdout", "1\n2\n3\n"u8);
        writer.Flush();
        var seen = new List<string>();

        await using var e = CriLogReader.FollowAsync(dir.Path, 2, () => finished, CancellationToken.None).GetAsyncEnumerator();
        Assert.True(await e.MoveNextAsync());
        seen.Add(e.Current.Text);
        Assert.True(await e.MoveNextAsync());
        seen.Add(e.Current.Text);
        writer.Write("stderr", "4\n"u8);
        writer.Flush();
        Assert.True(await e.MoveNextAsync());
        seen.Add(e.Current.Stream + ":" + e.Current.Text);
        finished = true;
        Assert.False(await e.MoveNextAsync());

        Assert.Equal(["2", "3", "stderr:4"], seen);
    }

    [Fact]
    public async Task FollowAsync_NoLogAndFinished_EndsEmpty()
    {
        using var dir = new TempDir();
        var any = false;
        await foreach (var _ in CriLogReader.FollowAsync(dir.Path, null, () => true, CancellationToken.None))
        {
            any = true;
        }
        Assert.False(any);
    }

    [Theory]
    [InlineData("2016-10-06T00:17:09.669794202Z stdout F log content 1", "stdout", "log content 1", false)]
    [InlineData("2016-10-06T00:17:09.669794203Z stderr P part", "stderr", "part", true)]
    [InlineData("2016-10-06T00:17:09+02:00 stdout F x", "stdout", "x", false)]
    [InlineData("2016-10-06T00:17:09.1Z stdout F ", "stdout", "", false)]
    public void TryParse_CriLines_Parsed(string line, string stream, string text, bool partial)
    {
        Assert.True(CriLogReader.TryParse(Encoding.UTF8.GetBytes(line), out var record));
        Assert.Equal((stream, text, partial), (record.Stream, record.Text, record.Partial));
        Assert.Equal(2016, record.Time.Year);
    }

    [Theory]
    [InlineData("")]
    [InlineData("garbage")]
    [InlineData("not-a-time stdout F x")]
    public void TryParse_Garbage_Rejected(string line)
    {
        Assert.False(CriLogReader.TryParse(Encoding.UTF8.GetBytes(line), out _));
    }

    [Fact]
    public void LogDirectory_IsLogsBelowInstance()
    {
        Assert.Equal(Path.Combine("/x/inst", "logs"), LogFiles.LogDirectory("/x/inst"));
    }

    private sealed class FixedTime(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
