using System.Globalization;
using System.Text.Json;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Control;
using static Strata.Daemon.DockerApi.DockerApiHost;

namespace Strata.Daemon.DockerApi;

/// <summary>Exec: create, start (attached over a taken-over connection, with a terminal and input when asked), resize, inspect.</summary>
internal static class DockerExecEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapPost("/containers/{id}/exec", CreateAsync);
        app.MapPost("/exec/{id}/start", StartAsync);
        app.MapPost("/exec/{id}/resize", (string id, HttpContext http, DockerExecs execs) =>
        {
            var exec = execs.Get(Project(http), id);
            exec.Session?.Resize(Dimension(http, "w"), Dimension(http, "h"));
            return Results.Ok();
        });
        app.MapGet("/exec/{id}/json", (string id, HttpContext http, DockerExecs execs) =>
        {
            var exec = execs.Get(Project(http), id);
            return Json(new DockerExecInspect
            {
                ID = exec.Id,
                Running = exec.Running,
                ExitCode = exec.ExitCode,
                ProcessConfig = new DockerExecProcessConfig
                {
                    Entrypoint = exec.Request.Command[0],
                    Arguments = [.. exec.Request.Command.Skip(1)],
                    Tty = exec.Request.Tty,
                    User = exec.Request.User ?? "",
                },
                OpenStdin = exec.Stdin,
                OpenStdout = exec.Stdout,
                OpenStderr = exec.Stderr,
                ContainerID = DockerContainers.IdOf(exec.InstanceId),
                CanRemove = exec.ExitCode is not null,
            }, DockerJsonContext.Default.DockerExecInspect);
        });
    }

    private static async Task CreateAsync(string id, HttpContext http, InstanceService service, DockerExecs execs)
    {
        var record = DockerContainers.Resolve(service, Project(http), id);
        var body = await ReadJsonAsync(http) ?? throw StrataException.Invalid("body", "expected the exec's configuration, e.g. {\"Cmd\":[\"ls\"]}");
        if (body.ValueKind != JsonValueKind.Object)
        {
            throw StrataException.Invalid("body", "expected a JSON object");
        }
        IReadOnlyList<string>? cmd = null;
        Dictionary<string, string>? env = null;
        string? user = null, workdir = null;
        bool tty = false, stdin = false, stdout = false, stderr = false;
        foreach (var member in body.EnumerateObject())
        {
            var v = member.Value;
            switch (member.Name)
            {
                case "Cmd":
                    cmd = DockerContainerSpec.Strings(v, "Cmd");
                    break;
                case "Env":
                    foreach (var e in DockerContainerSpec.Strings(v, "Env") ?? [])
                    {
                        var eq = e.IndexOf('=', StringComparison.Ordinal);
                        if (eq > 0)
                        {
                            (env ??= new Dictionary<string, string>(StringComparer.Ordinal))[e[..eq]] = e[(eq + 1)..];
                        }
                    }
                    break;
                case "User":
                    user = DockerContainerSpec.NonEmpty(DockerContainerSpec.String(v, "User"));
                    break;
                case "WorkingDir":
                    workdir = DockerContainerSpec.NonEmpty(DockerContainerSpec.String(v, "WorkingDir"));
                    break;
                case "Tty":
                    tty = v.ValueKind == JsonValueKind.True;
                    break;
                case "AttachStdin":
                    stdin = v.ValueKind == JsonValueKind.True;
                    break;
                case "AttachStdout":
                    stdout = v.ValueKind == JsonValueKind.True;
                    break;
                case "AttachStderr":
                    stderr = v.ValueKind == JsonValueKind.True;
                    break;
                case "DetachKeys" or "ConsoleSize" or "Detach":
                    break; // the client's keys and its terminal's first size (sent again with resize)
                case "Privileged":
                    DockerContainerSpec.RefuseUnlessZero("Privileged", v, "Strata runs no privileged execs");
                    break;
                default:
                    DockerContainerSpec.RefuseUnlessZero(member.Name, v);
                    break;
            }
        }
        if (cmd is not { Count: > 0 })
        {
            throw StrataException.Invalid("Cmd", "no command specified");
        }
        if (!record.State.IsActive())
        {
            throw StrataException.Conflict($"container {DockerContainers.IdOf(record)} is not running");
        }
        var exec = execs.Add(record.Project, record.Id, record.Name, new ExecRequest { Command = cmd, Env = env, User = user, WorkingDir = workdir, Tty = tty }, stdin, stdout, stderr);
        http.Response.StatusCode = StatusCodes.Status201Created;
        await JsonSerializer.SerializeAsync(http.Response.Body, new DockerExecCreated(exec.Id), DockerJsonContext.Default.DockerExecCreated);
    }

    private static async Task StartAsync(string id, HttpContext http, InstanceService service, DockerExecs execs)
    {
        var project = Project(http);
        var exec = execs.Get(project, id);
        var options = await ReadAsync(http, DockerJsonContext.Default.DockerExecStart) ?? new DockerExecStart();
        if (Interlocked.Exchange(ref exec.Started, 1) != 0)
        {
            throw StrataException.Conflict($"exec {exec.Id} has already been started");
        }
        var tty = exec.Request.Tty || options.Tty;
        var request = exec.Request with { Tty = tty };
        var (columns, rows) = options.ConsoleSize is [var h, var w] ? ((ushort)w, (ushort)h) : ((ushort)0, (ushort)0);
        exec.Running = true;
        try
        {
            if (options.Detach)
            {
                var ct = CancellationToken.None;
                exec.Running = true;
                _ = Task.Run(async () =>
                {
                    try
                    {
                        exec.ExitCode = await service.ExecAsync(project, exec.ContainerName, request with { Tty = false }, (_, _) => ValueTask.CompletedTask, ct);
                    }
                    catch (StrataException)
                    {
                        exec.ExitCode = 126;
                    }
                    finally
                    {
                        exec.Running = false;
                    }
                }, ct);
                return;
            }
            if (tty || exec.Stdin)
            {
                await RunInteractiveAsync(http, service, exec, request, columns, rows);
            }
            else
            {
                var (output, _) = await DockerStreams.HijackAsync(http, multiplexed: true);
                var gate = new SemaphoreSlim(1, 1);
                exec.ExitCode = await service.ExecAsync(project, exec.ContainerName, request, async (stream, bytes) =>
                {
                    var number = DockerStreams.StreamNumber(stream);
                    if ((number == 1 && !exec.Stdout) || (number == 2 && !exec.Stderr))
                    {
                        return;
                    }
                    await gate.WaitAsync(http.RequestAborted);
                    try
                    {
                        await DockerStreams.WriteFrameAsync(output, number, bytes, http.RequestAborted);
                        await output.FlushAsync(http.RequestAborted);
                    }
                    finally
                    {
                        gate.Release();
                    }
                }, http.RequestAborted);
                await output.FlushAsync(http.RequestAborted);
            }
        }
        finally
        {
            if (!options.Detach)
            {
                exec.ExitCode ??= 126;
                exec.Running = false;
            }
        }
    }

    /// <summary>With input and/or a terminal: the session's output to the client, the client's bytes to its input.</summary>
    private static async Task RunInteractiveAsync(HttpContext http, InstanceService service, DockerExec exec, ExecRequest request, ushort columns, ushort rows)
    {
        await using var session = await service.StartExecAsync(exec.Project, exec.ContainerName, request, columns, rows, http.RequestAborted);
        exec.Session = session;
        var (output, input) = await DockerStreams.HijackAsync(http, multiplexed: !request.Tty);
        using var done = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
        var gate = new SemaphoreSlim(1, 1);

        async Task PumpOutAsync(Stream from, byte number)
        {
            var buffer = new byte[16 * 1024];
            try
            {
                int n;
                while ((n = await from.ReadAsync(buffer, done.Token)) > 0)
                {
                    await gate.WaitAsync(done.Token);
                    try
                    {
                        if (request.Tty)
                        {
                            await output.WriteAsync(buffer.AsMemory(0, n), done.Token);
                        }
                        else
                        {
                            await DockerStreams.WriteFrameAsync(output, number, buffer.AsMemory(0, n), done.Token);
                        }
                        await output.FlushAsync(done.Token);
                    }
                    finally
                    {
                        gate.Release();
                    }
                }
            }
            catch (IOException)
            {
                // a terminal whose last user went away reads as EIO: the end of its output
            }
        }

        async Task PumpInAsync()
        {
            var buffer = new byte[16 * 1024];
            try
            {
                int n;
                while ((n = await input.ReadAsync(buffer, done.Token)) > 0)
                {
                    if (exec.Stdin)
                    {
                        await session.Input.WriteAsync(buffer.AsMemory(0, n), done.Token);
                        await session.Input.FlushAsync(done.Token);
                    }
                }
                if (exec.Stdin)
                {
                    await session.CloseInputAsync(done.Token);
                }
            }
            catch (IOException)
            {
                // the command closed its input, or the client went away
            }
        }

        var outputs = Task.WhenAll(PumpOutAsync(session.Output, 1), session.Error is { } error ? PumpOutAsync(error, 2) : Task.CompletedTask);
        var pumpIn = PumpInAsync();
        exec.ExitCode = await session.Exited.WaitAsync(http.RequestAborted);
        try
        {
            await outputs.WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (TimeoutException)
        {
            // a background child holding the output open must not hold the exit
        }
        await done.CancelAsync();
        try
        {
            await pumpIn;
        }
        catch (OperationCanceledException)
        {
        }
        exec.Session = null;
    }
}
