using System.Globalization;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Control;

namespace Strata.Daemon.Api;

/// <summary>
/// <c>GET /v1/instances/{name}/exec/attach?cmd=..&amp;cmd=..[&amp;tty=true][&amp;cols=C&amp;rows=R][&amp;env=K=V][&amp;workdir=DIR][&amp;user=U]</c>,
/// upgraded to a WebSocket: exec with stdin (and a terminal with tty=true). Frames:
/// server to client, binary: one channel byte (1 stdout or the terminal, 2 stderr) then the bytes; the last message is
/// text <c>{"type":"exit","code":N}</c>, then a close. Client to server, binary: stdin bytes; text
/// <c>{"type":"eof"}</c> closes stdin (with a terminal: types ^D); <c>{"type":"resize","cols":C,"rows":R}</c>.
/// A client that disconnects before the exit ends the command.
/// </summary>
public static class ExecAttachEndpoint
{
    public const byte StdoutChannel = 1;
    public const byte StderrChannel = 2;

    public static void Map(RouteGroupBuilder group)
    {
        group.MapGet("/{name}/exec/attach", AttachAsync)
            .WithSummary("exec -i/-t: run a command with stdin (tty=true: on a terminal) over a WebSocket; container and sandbox tiers.");
    }

    private static async Task AttachAsync(string name, HttpContext http, InstanceService service)
    {
        var query = http.Request.Query;
        var request = new ExecRequest
        {
            Command = [.. query["cmd"].Select(c => c ?? "")],
            Tty = query["tty"].FirstOrDefault() is "true" or "1",
            Env = query["env"].Count == 0 ? null : query["env"].Select(Pair).ToDictionary(p => p.Key, p => p.Value),
            WorkingDir = query["workdir"].FirstOrDefault(),
            User = query["user"].FirstOrDefault(),
        };
        var columns = Dimension(query["cols"].FirstOrDefault(), "cols");
        var rows = Dimension(query["rows"].FirstOrDefault(), "rows");
        if (!http.WebSockets.IsWebSocketRequest)
        {
            throw StrataException.Invalid("upgrade", "exec attach is a WebSocket: connect with 'Upgrade: websocket' (strata exec -i/-t does)");
        }
        ExecSession started;
        try
        {
            started = await service.StartExecAsync(InstanceEndpoints.Project(http), name, request, columns, rows, http.RequestAborted).ConfigureAwait(false);
        }
        catch (StrataException e)
        {
            ConsoleEndpoints.ExplainRefusal(http, e);
            throw;
        }
        await using var session = started;
        using var socket = await http.WebSockets.AcceptWebSocketAsync().ConfigureAwait(false);
        using var sending = new SemaphoreSlim(1, 1);
        using var done = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);

        async Task SendAsync(ReadOnlyMemory<byte> message, WebSocketMessageType type, CancellationToken ct)
        {
            await sending.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                await socket.SendAsync(message, type, endOfMessage: true, ct).ConfigureAwait(false);
            }
            finally
            {
                sending.Release();
            }
        }

        async Task PumpOutAsync(Stream stream, byte channel)
        {
            var buffer = new byte[16 * 1024 + 1];
            buffer[0] = channel;
            try
            {
                int n;
                while ((n = await stream.ReadAsync(buffer.AsMemory(1), done.Token).ConfigureAwait(false)) > 0)
                {
                    await SendAsync(buffer.AsMemory(0, n + 1), WebSocketMessageType.Binary, done.Token).ConfigureAwait(false);
                }
            }
            catch (IOException)
            {
                // A terminal whose last user went away reads as EIO: the end of its output.
            }
        }

        var output = Task.WhenAll(
            PumpOutAsync(session.Output, StdoutChannel),
            session.Error is { } error ? PumpOutAsync(error, StderrChannel) : Task.CompletedTask);
        var input = PumpInAsync(socket, session, done.Token);
        if (await Task.WhenAny(session.Exited, input).ConfigureAwait(false) != session.Exited)
        {
            // The client went away first: disposing the session ends the command.
            await done.CancelAsync().ConfigureAwait(false);
            await Quietly(output).ConfigureAwait(false);
            return;
        }
        var code = await session.Exited.ConfigureAwait(false);
        // Output still in the pipes is the command's too; a background child holding them open must not hold the exit.
        await Quietly(output.WaitAsync(TimeSpan.FromSeconds(5))).ConfigureAwait(false);
        try
        {
            var exit = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $$"""{"type":"exit","code":{{code}}}"""));
            await SendAsync(exit, WebSocketMessageType.Text, done.Token).ConfigureAwait(false);
            using var closeTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "exited", closeTimeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException or IOException)
        {
        }
        await done.CancelAsync().ConfigureAwait(false);
        await Quietly(input).ConfigureAwait(false);
        await Quietly(output).ConfigureAwait(false);
    }

    /// <summary>Client to command until the client closes (or goes away).</summary>
    private static async Task PumpInAsync(WebSocket socket, ExecSession session, CancellationToken ct)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                var r = await socket.ReceiveAsync(buffer.AsMemory(), ct).ConfigureAwait(false);
                if (r.MessageType == WebSocketMessageType.Close)
                {
                    return;
                }
                if (r.MessageType == WebSocketMessageType.Binary)
                {
                    await session.Input.WriteAsync(buffer.AsMemory(0, r.Count), ct).ConfigureAwait(false);
                    await session.Input.FlushAsync(ct).ConfigureAwait(false);
                    continue;
                }
                // Control messages are small; one that does not fit one receive is not ours.
                if (!r.EndOfMessage)
                {
                    continue;
                }
                using var control = JsonDocument.Parse(buffer.AsMemory(0, r.Count));
                var type = control.RootElement.TryGetProperty("type", out var t) ? t.GetString() : null;
                if (type == "eof")
                {
                    await session.CloseInputAsync(ct).ConfigureAwait(false);
                }
                else if (type == "resize"
                    && control.RootElement.TryGetProperty("cols", out var c) && c.TryGetUInt16(out var cols)
                    && control.RootElement.TryGetProperty("rows", out var rw) && rw.TryGetUInt16(out var rows))
                {
                    session.Resize(cols, rows);
                }
            }
        }
        catch (Exception e) when (e is WebSocketException or JsonException)
        {
            // a broken client ends the exec like a gone one
        }
        catch (IOException)
        {
            // the command closed its stdin: keep reading control messages is not worth it; wait for the exit
            await Task.Delay(Timeout.Infinite, ct).ConfigureAwait(false);
        }
    }

    private static async Task Quietly(Task task)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException or IOException or TimeoutException)
        {
        }
    }

    private static KeyValuePair<string, string> Pair(string? text)
    {
        var eq = text?.IndexOf('=', StringComparison.Ordinal) ?? -1;
        if (eq <= 0)
        {
            throw StrataException.Invalid("env", $"'{text}' is not K=V");
        }
        return new(text![..eq], text[(eq + 1)..]);
    }

    private static ushort Dimension(string? text, string field) =>
        text is null ? (ushort)0
        : ushort.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v
        : throw StrataException.Invalid(field, $"'{text}' is not a terminal size (0-65535)");
}
