using System.Globalization;
using Strata.Contracts;
using Strata.Control;
using Strata.Node.Logs;
using Strata.Node.Supervision;
using static Strata.Daemon.DockerApi.DockerApiHost;

namespace Strata.Daemon.DockerApi;

/// <summary>A container's output: attach (the live stream, over a taken-over connection) and logs.</summary>
internal static class DockerStreamEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapPost("/containers/{id}/attach", AttachAsync);
        app.MapGet("/containers/{id}/logs", LogsAsync);
    }

    private static async Task AttachAsync(string id, HttpContext http, InstanceService service, DockerRunTraces traces)
    {
        var record = DockerContainers.Resolve(service, Project(http), id);
        traces.Join(DockerContainers.IdOf(record), "attach request");
        var stdin = Flag(http, "stdin");
        if (stdin && !record.Spec.Stdin)
        {
            throw StrataException.Invalid("stdin", "the container was created without input; create it with -i (OpenStdin), or use 'docker exec -i' for an interactive command");
        }
        var stdout = Flag(http, "stdout");
        var stderr = Flag(http, "stderr");
        var follow = Flag(http, "stream");
        var history = Flag(http, "logs");
        var tty = record.Spec.Tty;
        await using var lease = service.Attach(record.Project, record.Name);
        // With a terminal the output is the raw stream (one stream, no frames), as the client expects from Config.Tty.
        var (output, input) = await DockerStreams.HijackAsync(http, multiplexed: !tty);
        RunTimeline.Mark("attach upgraded");
        using var ended = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
        var pump = stdin && follow ? PumpInputAsync(lease.Directory, input, ended.Token) : Task.CompletedTask;
        var ct = http.RequestAborted;
        // Output of a run that has not started yet is all new; of a running one, only what comes from now on.
        int? tail = history || record.State is InstanceState.Created or InstanceState.Creating or InstanceState.Pending ? null : 0;
        if (follow && lease.Record.State.IsFinished())
        {
            // 'docker start -a' attaches before it starts: wait for that start, then follow the run.
            var started = lease.Record.StartedAt;
            while (lease.Record.State.IsFinished() && lease.Record.StartedAt == started && lease.Record.State != InstanceState.Deleted)
            {
                await Task.Delay(20, ct);
            }
        }
        var logDir = lease.LogDirectory;
        if (!follow)
        {
            foreach (var line in history ? CriLogReader.ReadTail(logDir, null) : [])
            {
                await WriteAsync(output, line, stdout, stderr, timestamps: false, ct);
            }
        }
        else
        {
            var finished = lease.Finished;
            await foreach (var line in CriLogReader.FollowAsync(logDir, tail, () => finished.IsCompleted, finished, ct))
            {
                await WriteAsync(output, line, stdout, stderr, timestamps: false, ct, raw: tty);
            }
        }
        await output.FlushAsync(ct);
        await ended.CancelAsync();
        await pump;
        RunTimeline.Mark("attach ended");
    }

    /// <summary>The attach's input to the container's console channel; its end is the input's end (docker run -i's StdinOnce).</summary>
    private static async Task PumpInputAsync(string instanceDirectory, Stream input, CancellationToken ct)
    {
        try
        {
            using var console = ConsoleChannel.OpenWriter(ConsoleChannel.PathIn(instanceDirectory));
            if (console is null)
            {
                return;
            }
            var buffer = new byte[ConsoleChannel.MaxPayloadBytes];
            int n;
            while ((n = await input.ReadAsync(buffer, ct)) > 0)
            {
                await console.WriteInputAsync(buffer.AsMemory(0, n), ct);
            }
            await console.EndInputAsync(ct);
            // Held until the attach ends: before the start nobody else may hold the FIFO, and it would forget the input.
            await Task.Delay(Timeout.Infinite, ct);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
        {
            // the run ended or the client went away: its input goes with it
        }
    }

    /// <summary>Sets the terminal's size of a container created with one (Docker's resize); false when it has none.</summary>
    public static async Task<bool> ResizeAsync(string instanceDirectory, ushort columns, ushort rows, CancellationToken ct)
    {
        using var console = ConsoleChannel.OpenWriter(ConsoleChannel.PathIn(instanceDirectory));
        if (console is null)
        {
            return false;
        }
        await console.ResizeAsync(columns, rows, ct);
        return true;
    }

    private static async Task LogsAsync(string id, HttpContext http, InstanceService service)
    {
        var record = DockerContainers.Resolve(service, Project(http), id);
        var stdout = Flag(http, "stdout");
        var stderr = Flag(http, "stderr");
        if (!stdout && !stderr)
        {
            throw StrataException.Invalid("stdout", "you must choose at least one stream (stdout=1 and/or stderr=1)");
        }
        var timestamps = Flag(http, "timestamps");
        int? tail = http.Request.Query["tail"].ToString() is { Length: > 0 } t && t != "all"
            ? int.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : throw StrataException.Invalid("tail", $"'{t}' is not a number of lines or 'all'")
            : null;
        var since = Seconds(http, "since");
        var until = Seconds(http, "until");
        await using var lease = service.Attach(record.Project, record.Name);
        var raw = record.Spec.Tty;
        http.Response.ContentType = raw ? DockerStreams.Raw : DockerStreams.Multiplexed;
        await http.Response.StartAsync(http.RequestAborted);
        var output = http.Response.Body;
        var ct = http.RequestAborted;
        var logDir = lease.LogDirectory;
        bool InRange(LogRecord r) => (since is null || r.Time >= since) && (until is null || r.Time <= until);
        if (Flag(http, "follow"))
        {
            var finished = lease.Finished;
            await foreach (var line in CriLogReader.FollowAsync(logDir, tail, () => finished.IsCompleted, finished, ct))
            {
                if (InRange(line))
                {
                    await WriteAsync(output, line, stdout, stderr, timestamps, ct, raw);
                }
            }
        }
        else
        {
            foreach (var line in CriLogReader.ReadTail(logDir, tail).Where(InRange))
            {
                await WriteAsync(output, line, stdout, stderr, timestamps, ct, raw);
            }
        }
        await output.FlushAsync(ct);
    }

    private static DateTimeOffset? Seconds(HttpContext http, string name) =>
        http.Request.Query[name].ToString() is { Length: > 0 } v && v != "0"
            ? double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var s)
                ? DateTimeOffset.UnixEpoch.AddSeconds(s)
                : throw StrataException.Invalid(name, $"'{v}' is not a Unix time in seconds")
            : null;

    /// <summary>One log record: a frame of its stream, or with <paramref name="raw"/> (a terminal's one stream) its bytes.</summary>
    private static async Task WriteAsync(Stream output, LogRecord line, bool stdout, bool stderr, bool timestamps, CancellationToken ct, bool raw = false)
    {
        var stream = DockerStreams.StreamNumber(line.Stream);
        if ((stream == 1 && stdout) || (stream == 2 && stderr))
        {
            if (raw)
            {
                await output.WriteAsync(DockerStreams.Line(line, timestamps), ct);
            }
            else
            {
                await DockerStreams.WriteFrameAsync(output, stream, DockerStreams.Line(line, timestamps), ct);
            }
            await output.FlushAsync(ct);
        }
    }
}
