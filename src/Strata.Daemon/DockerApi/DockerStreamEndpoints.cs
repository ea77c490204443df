using System.Globalization;
using Strata.Contracts;
using Strata.Control;
using Strata.Node.Logs;
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
        if (Flag(http, "stdin"))
        {
            throw StrataException.Invalid("stdin", "a Strata container's main process has no input to attach to; use 'docker exec -i' for an interactive command");
        }
        var stdout = Flag(http, "stdout");
        var stderr = Flag(http, "stderr");
        var follow = Flag(http, "stream");
        var history = Flag(http, "logs");
        await using var lease = service.Attach(record.Project, record.Name);
        var (output, _) = await DockerStreams.HijackAsync(http, multiplexed: true);
        RunTimeline.Mark("attach upgraded");
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
                await WriteAsync(output, line, stdout, stderr, timestamps: false, ct);
            }
        }
        await output.FlushAsync(ct);
        RunTimeline.Mark("attach ended");
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
        http.Response.ContentType = DockerStreams.Multiplexed;
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
                    await WriteAsync(output, line, stdout, stderr, timestamps, ct);
                }
            }
        }
        else
        {
            foreach (var line in CriLogReader.ReadTail(logDir, tail).Where(InRange))
            {
                await WriteAsync(output, line, stdout, stderr, timestamps, ct);
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

    private static async Task WriteAsync(Stream output, LogRecord line, bool stdout, bool stderr, bool timestamps, CancellationToken ct)
    {
        var stream = DockerStreams.StreamNumber(line.Stream);
        if ((stream == 1 && stdout) || (stream == 2 && stderr))
        {
            await DockerStreams.WriteFrameAsync(output, stream, DockerStreams.Line(line, timestamps), ct);
            await output.FlushAsync(ct);
        }
    }
}
