using System.Text;
using System.Text.Json;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Control;

namespace Strata.Daemon.Api;

/// <summary><c>/v1/instances/{name}/exec</c>, <c>/stats</c>, <c>/top</c> and <c>/runtime-config</c>: looking inside an instance.</summary>
public static class ExecEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/instances").WithTags("instances");

        group.MapPost("/{name}/exec", ExecAsync)
            .Accepts<ExecRequest>("application/json")
            .Produces<StreamFrame>(contentType: "application/x-ndjson")
            .WithSummary("Run a command in a running instance. NDJSON StreamFrames: its output as log frames, then an exit frame with its exit code.");

        ExecAttachEndpoint.Map(group);

        group.MapGet("/{name}/stats", async (string name, HttpContext http, InstanceService service) =>
            Results.Json(await service.StatsAsync(InstanceEndpoints.Project(http), name, http.RequestAborted), StrataJsonContext.Default.InstanceStats))
            .Produces<InstanceStats>().WithSummary("CPU (over a 250 ms window), memory and process count of a running instance: from its cgroups or processes, and for vm and sandbox from the guest's balloon statistics and QEMU's host memory.");

        group.MapGet("/{name}/top", async (string name, HttpContext http, InstanceService service) =>
            Results.Json(await service.TopAsync(InstanceEndpoints.Project(http), name, http.RequestAborted), StrataJsonContext.Default.ProcessList))
            .Produces<ProcessList>().WithSummary("The processes of a running instance (host PIDs).");

        group.MapGet("/{name}/runtime-config", async (string name, HttpContext http, InstanceService service) =>
            Results.Text(await service.RuntimeConfigAsync(InstanceEndpoints.Project(http), name, http.RequestAborted), "application/json"))
            .Produces<string>(contentType: "application/json")
            .WithSummary("The OCI runtime configuration (config.json) a container instance runs with, exactly as the runtime reads it.");
    }

    private static async Task ExecAsync(string name, HttpContext http, InstanceService service)
    {
        if (http.Request.ContentType is { } type && !type.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            throw new StrataException(ErrorKind.InvalidArgument, $"expected a JSON body (Content-Type: application/json), got '{type}'");
        }
        var request = await JsonSerializer.DeserializeAsync(http.Request.Body, StrataJsonContext.Default.ExecRequest, http.RequestAborted)
            ?? throw new StrataException(ErrorKind.InvalidArgument, "body: expected a JSON object with a 'command'");
        var ct = http.RequestAborted;
        var decoders = new Dictionary<string, (Decoder Decoder, StringBuilder Pending)>();

        // Output becomes log frames line by line; an unfinished line is sent as a partial frame so an
        // interactive-looking prompt is not held back.
        async ValueTask OutputAsync(string stream, ReadOnlyMemory<byte> bytes)
        {
            if (!decoders.TryGetValue(stream, out var state))
            {
                state = (new UTF8Encoding(false).GetDecoder(), new StringBuilder());
                decoders[stream] = state;
            }
            var chars = new char[Encoding.UTF8.GetMaxCharCount(bytes.Length)];
            var n = state.Decoder.GetChars(bytes.Span, chars, flush: false);
            state.Pending.Append(chars, 0, n);
            var text = state.Pending.ToString();
            state.Pending.Clear();
            var lines = text.Split('\n');
            for (var i = 0; i < lines.Length; i++)
            {
                var last = i == lines.Length - 1;
                if (last && lines[i].Length == 0)
                {
                    break;
                }
                await WriteAsync(http, new StreamFrame { Log = new LogRecord(DateTimeOffset.UtcNow, stream, lines[i], Partial: last) }, ct);
            }
        }

        var code = await service.ExecAsync(InstanceEndpoints.Project(http), name, request, (s, b) =>
        {
            if (!http.Response.HasStarted)
            {
                http.Response.ContentType = "application/x-ndjson";
            }
            return OutputAsync(s, b);
        }, ct);
        http.Response.ContentType ??= "application/x-ndjson";
        await WriteAsync(http, new StreamFrame { Exit = new WaitResult(name, "exited", code, null) }, ct);
    }

    private static readonly byte[] NewLine = "\n"u8.ToArray();

    private static async Task WriteAsync(HttpContext http, StreamFrame frame, CancellationToken ct)
    {
        await JsonSerializer.SerializeAsync(http.Response.Body, frame, StrataJsonContext.Default.StreamFrame, ct);
        await http.Response.Body.WriteAsync(NewLine, ct);
        await http.Response.Body.FlushAsync(ct);
    }
}
