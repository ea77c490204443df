using System.Text.Json;
using Strata.Contracts.Drivers;

namespace Strata.Node.Supervision;

/// <summary>
/// The exit record the supervisor leaves behind once the workload has ended:
/// <c>{"version":1,"exitCode":3,"reason":null,"finishedAt":"…Z","oomKilled":false,"failed":false}</c>.
/// Written atomically (tmp, fsync, rename, fsync dir), so a reader sees either nothing or the whole record.
/// </summary>
public static class ExitFile
{
    public const int CurrentVersion = 1;

    /// <summary>The status recorded at <paramref name="path"/>, or null when there is none (yet) or it is unreadable.</summary>
    public static ExitStatus? TryRead(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
        ExitFileRecord? record;
        try
        {
            record = JsonSerializer.Deserialize(bytes, SupervisionJsonContext.Default.ExitFileRecord);
        }
        catch (JsonException)
        {
            return null;
        }
        if (record is null || record.Version != CurrentVersion)
        {
            return null;
        }
        return new ExitStatus
        {
            ExitCode = record.ExitCode,
            Reason = record.Reason,
            FinishedAt = new DateTimeOffset(DateTime.SpecifyKind(record.FinishedAt.ToUniversalTime(), DateTimeKind.Utc)),
            OomKilled = record.OomKilled,
            Failed = record.Failed,
        };
    }

    /// <param name="durable">false: no fsync of the file and its directory (atomic, but may be lost by a host crash).</param>
    public static void Write(string path, ExitStatus status, bool durable = true)
    {
        var record = new ExitFileRecord
        {
            Version = CurrentVersion,
            ExitCode = status.ExitCode,
            Reason = status.Reason,
            FinishedAt = status.FinishedAt.UtcDateTime,
            OomKilled = status.OomKilled,
            Failed = status.Failed,
        };
        var bytes = JsonSerializer.SerializeToUtf8Bytes(record, SupervisionJsonContext.Default.ExitFileRecord);
        var directory = Path.GetDirectoryName(Path.GetFullPath(path)) ?? "/";
        var tmp = path + ".tmp";
        using (var stream = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1))
        {
            stream.Write(bytes);
            stream.WriteByte((byte)'\n');
            stream.Flush(flushToDisk: durable);
        }
        File.Move(tmp, path, overwrite: true);
        if (durable)
        {
            Libc.FsyncDirectory(directory);
        }
    }
}
