using System.Buffers;
using System.Text.Json;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Control;
using Strata.Node.Logs;
using Strata.Store;

namespace Strata.Daemon.Api;

/// <summary>REST endpoints under <c>/v1/instances</c>. Every handler is thin: parse, call the control plane, map.</summary>
public static class InstanceEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/instances").WithTags("instances");

        group.MapGet("/", (HttpContext http, InstanceService service, InstanceListWriter list) =>
            list.WriteAsync(http.Response, service.List(Project(http)), http.RequestAborted))
            .Produces<InstanceList>().WithSummary("List instances of the project (all states).");

        group.MapPost("/", CreateAsync)
            .Accepts<CreateInstanceRequest>("application/json")
            .Produces<InstanceInfo>(StatusCodes.Status201Created)
            .Produces<OperationInfo>(StatusCodes.Status202Accepted)
            .WithSummary("Create (and by default start) an instance. With ?attach=true the response is an NDJSON stream of StreamFrame: the instance, its output, and its exit. With ?wait=false the create runs as an operation (202 OperationInfo, Location /v1/operations/{id}) whose progress shows each step and whose result is the InstanceInfo; cancelling it removes what the create had made.");

        group.MapGet("/{name}", (string name, HttpContext http, InstanceService service, Strata.Control.Usage.UsageSampler sampler) =>
        {
            var record = service.Get(Project(http), name);
            return Results.Json(ToInfo(record) with { Rightsize = sampler.Status(record) }, StrataJsonContext.Default.InstanceInfo);
        }).Produces<InstanceInfo>().WithSummary("Inspect one instance (with its right-sizing mode and last automatic change).");

        group.MapPost("/{name}/start", async (string name, HttpContext http, InstanceService service) =>
            Results.Json(ToInfo(await service.StartAsync(Project(http), name, http.RequestAborted)), StrataJsonContext.Default.InstanceInfo))
            .Produces<InstanceInfo>().WithSummary("Start a created, stopped, exited or failed instance.");

        group.MapPost("/{name}/stop", async (string name, int? timeout, HttpContext http, InstanceService service) =>
        {
            var grace = TimeSpan.FromSeconds(Math.Clamp(timeout ?? 10, 0, 3600));
            return Results.Json(ToInfo(await service.StopAsync(Project(http), name, grace, http.RequestAborted)), StrataJsonContext.Default.InstanceInfo);
        }).Produces<InstanceInfo>().WithSummary("Stop: SIGTERM (or ACPI power-down), wait ?timeout seconds (default 10), then kill.");

        group.MapPost("/{name}/kill", async (string name, int? signal, HttpContext http, InstanceService service) =>
            Results.Json(ToInfo(await service.KillAsync(Project(http), name, signal ?? 9, http.RequestAborted)), StrataJsonContext.Default.InstanceInfo))
            .Produces<InstanceInfo>().WithSummary("Send a signal (default 9) to the workload.");

        group.MapDelete("/{name}", async (string name, bool? force, HttpContext http, InstanceService service) =>
        {
            await service.DeleteAsync(Project(http), name, force ?? false, http.RequestAborted);
            return Results.NoContent();
        }).WithSummary("Remove an instance (?force=true stops it first).");

        group.MapGet("/{name}/wait", async (string name, HttpContext http, InstanceService service) =>
        {
            var r = await service.WaitAsync(Project(http), name, http.RequestAborted);
            return Results.Json(new WaitResult(r.Name, r.State.ToName(), r.ExitCode, r.Reason), StrataJsonContext.Default.WaitResult);
        }).Produces<WaitResult>().WithSummary("Block until the instance has finished; returns its exit code.");

        group.MapGet("/{name}/logs", LogsAsync)
            .Produces<StreamFrame>(contentType: "application/x-ndjson")
            .WithSummary("The instance's output as NDJSON StreamFrames (?tail=N lines, ?follow=true to follow until it finishes).");
    }

    /// <summary>
    /// The project the request acts in (the authenticated caller's, see <see cref="Authentication"/>). Every
    /// instance lookup goes through it, so another project's instance is "not found" exactly like a missing one.
    /// </summary>
    internal static string Project(HttpContext http)
    {
        var project = Caller.Of(http).Project;
        return http.RequestServices.GetRequiredService<Control.Projects.ProjectService>().Find(project) is null
            ? throw Control.Projects.ProjectService.NoProject(project)
            : project;
    }

    /// <summary>Sent by the CLI: when its process started (Unix time in microseconds), so a run's timeline includes CLI → daemon.</summary>
    public const string ClientStartedHeader = "Strata-Client-Started";

    private static async Task CreateAsync(HttpContext http, InstanceService service, ILoggerFactory loggers, bool? attach, bool? wait)
    {
        if (attach == true && wait == false)
        {
            throw StrataException.Invalid("wait", "an attached run streams the instance's output and cannot also run as an operation; drop wait=false or attach=true");
        }
        var log = loggers.CreateLogger("Strata.Daemon.RunTimeline");
        using var timeline = attach == true && log.IsEnabled(LogLevel.Debug) ? RunTimeline.Start(ClientStarted(http)) : null;
        if (http.Request.ContentType is { } type && !type.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            throw new StrataException(ErrorKind.InvalidArgument, $"expected a JSON body (Content-Type: application/json), got '{type}'");
        }
        var request = await JsonSerializer.DeserializeAsync(http.Request.Body, StrataJsonContext.Default.CreateInstanceRequest, http.RequestAborted)
            ?? throw new StrataException(ErrorKind.InvalidArgument, "body: expected a JSON object with a 'spec'");
        var project = Project(http);
        RunTimeline.Mark("request read");

        if (wait == false)
        {
            var operation = CreateOperations.Start(http.RequestServices.GetRequiredService<Control.Operations.OperationRegistry>(), service, request, project);
            http.Response.StatusCode = StatusCodes.Status202Accepted;
            http.Response.Headers.Location = $"/v1/operations/{operation.Id}";
            await JsonSerializer.SerializeAsync(http.Response.Body, operation.ToInfo(), StrataJsonContext.Default.OperationInfo, http.RequestAborted);
            return;
        }
        if (attach != true)
        {
            var created = await service.CreateAsync(request.Spec, request.Start, project, http.RequestAborted);
            http.Response.StatusCode = StatusCodes.Status201Created;
            http.Response.Headers.Location = $"/v1/instances/{created.Name}";
            await JsonSerializer.SerializeAsync(http.Response.Body, ToInfo(created), StrataJsonContext.Default.InstanceInfo, http.RequestAborted);
            return;
        }

        // Attached run: the service creates, holds (so an auto-remove cannot take the output away before it is
        // sent) and starts; a failed start has already been undone when it throws.
        await using var lease = await service.RunAttachedAsync(request.Spec, project, http.RequestAborted);
        var record = lease.Record;
        http.Response.StatusCode = StatusCodes.Status201Created;
        http.Response.ContentType = "application/x-ndjson";
        WriteFrame(http, new StreamFrame { Instance = ToInfo(record) }); // leaves with the first output, or before waiting for it
        RunTimeline.Mark("instance frame buffered");
        await StreamLogsAsync(http, lease, tail: null, follow: true);
        RunTimeline.Mark("exit frame sent");
        if (timeline is not null)
        {
            LogTimeline(log, record.Name, RunTimeline.Format(timeline), null);
        }
    }

    private static DateTimeOffset? ClientStarted(HttpContext http) =>
        http.Request.Headers.TryGetValue(ClientStartedHeader, out var v) && long.TryParse(v.ToString(), out var us)
            ? DateTimeOffset.FromUnixTimeMilliseconds(0).AddTicks(us * 10)
            : null;

    private static readonly Action<ILogger, string, string, Exception?> LogTimeline =
        LoggerMessage.Define<string, string>(LogLevel.Debug, new EventId(1, "RunTimeline"), "run {Name} (ms from the request; step): {Timeline}");

    private static async Task LogsAsync(string name, int? tail, bool? follow, HttpContext http, InstanceService service)
    {
        if (tail is < 0)
        {
            throw StrataException.Invalid("tail", "must be 0 or more lines");
        }
        await using var lease = service.Attach(Project(http), name);
        http.Response.ContentType = "application/x-ndjson";
        await StreamLogsAsync(http, lease, tail, follow ?? false);
    }

    private static async Task StreamLogsAsync(HttpContext http, InstanceService.AttachLease lease, int? tail, bool follow)
    {
        if (lease.MemoryLog is { } memory)
        {
            await StreamMemoryLogAsync(http, memory, lease, tail, follow);
            return;
        }
        var logDir = lease.LogDirectory;
        var ct = http.RequestAborted;
        await http.Response.Body.FlushAsync(ct); // what was written before (an attached run's first frame) goes out now
        if (!follow)
        {
            foreach (var record in CriLogReader.ReadTail(logDir, tail))
            {
                await WriteFrameAsync(http, new StreamFrame { Log = record }, flush: false);
            }
            await http.Response.Body.FlushAsync(ct);
            return;
        }
        var finished = lease.Finished;
        await foreach (var record in CriLogReader.FollowAsync(logDir, tail, () => finished.IsCompleted, finished, ct))
        {
            await WriteFrameAsync(http, new StreamFrame { Log = record });
        }
        var final = await finished.WaitAsync(ct);
        // Release before the exit frame: an auto-removed instance is forgotten now (its cleanup continues in the
        // background), so its name is free by the time the client has the exit code.
        await lease.DisposeAsync();
        await WriteFrameAsync(http, new StreamFrame { Exit = new WaitResult(final.Name, final.State.ToName(), final.ExitCode, final.Reason) });
    }

    /// <summary>
    /// An instance whose output is in memory (an auto-removed wasm run): no files and no polling. Frames are
    /// written as output arrives and flushed before each wait, so a short run's whole answer leaves in one write.
    /// </summary>
    private static async Task StreamMemoryLogAsync(HttpContext http, IMemoryLog log, InstanceService.AttachLease lease, int? tail, bool follow)
    {
        var ct = http.RequestAborted;
        var position = tail is { } n ? Math.Max(0, log.End - n) : 0;
        var batch = new List<LogRecord>();
        if (!follow)
        {
            log.Read(ref position, batch);
            foreach (var r in batch)
            {
                WriteFrame(http, new StreamFrame { Log = r });
            }
            await http.Response.BodyWriter.FlushAsync(ct);
            return;
        }
        var finished = lease.Finished;
        while (true)
        {
            // Asked before reading: if it had finished then, everything it wrote is read below.
            var done = finished.IsCompleted;
            batch.Clear();
            log.Read(ref position, batch);
            foreach (var r in batch)
            {
                WriteFrame(http, new StreamFrame { Log = r });
            }
            if (done)
            {
                break;
            }
            if (batch.Count == 0)
            {
                await http.Response.BodyWriter.FlushAsync(ct);
                await Task.WhenAny(log.WaitAsync(position), finished).WaitAsync(ct);
            }
        }
        var final = await finished;
        WriteFrame(http, new StreamFrame { Exit = new WaitResult(final.Name, final.State.ToName(), final.ExitCode, final.Reason) });
        await http.Response.BodyWriter.FlushAsync(ct);
    }

    private static readonly byte[] NewLine = "\n"u8.ToArray();

    /// <summary>Serialises one NDJSON frame straight into the response buffer (sent at the next flush).</summary>
    private static void WriteFrame(HttpContext http, StreamFrame frame)
    {
        var body = http.Response.BodyWriter;
        using (var json = new Utf8JsonWriter(body))
        {
            JsonSerializer.Serialize(json, frame, StrataJsonContext.Default.StreamFrame);
        }
        body.Write(NewLine);
    }

    private static async Task WriteFrameAsync(HttpContext http, StreamFrame frame, bool flush = true)
    {
        await JsonSerializer.SerializeAsync(http.Response.Body, frame, StrataJsonContext.Default.StreamFrame, http.RequestAborted);
        await http.Response.Body.WriteAsync(NewLine, http.RequestAborted);
        if (flush)
        {
            await http.Response.Body.FlushAsync(http.RequestAborted);
        }
    }

    public static InstanceInfo ToInfo(InstanceRecord r)
    {
        var details = r.Handle?.Data is { Count: > 0 } data ? data : null;
        return new InstanceInfo
        {
            Id = r.Id,
            Name = r.Name,
            Project = r.Project,
            Tier = r.Tier.ToName(),
            State = r.State.ToName(),
            Image = r.Spec.Image,
            Spec = r.Spec,
            Pid = r.State.IsActive() ? r.Handle?.Pid : null,
            ExitCode = r.ExitCode,
            Reason = r.Reason,
            RestartCount = r.RestartCount,
            CreatedAt = r.CreatedAt,
            StartedAt = r.StartedAt,
            FinishedAt = r.FinishedAt,
            Details = details,
            Placement = r.Placement,
        };
    }
}
