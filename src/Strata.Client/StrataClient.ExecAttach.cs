using System.Globalization;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Strata.Contracts;
using Strata.Contracts.Drivers;

namespace Strata.Client;

public sealed partial class StrataClient
{
    /// <summary>
    /// exec -i/-t: <c>GET /v1/instances/{name}/exec/attach</c> upgraded to a WebSocket. With <see cref="ExecRequest.Tty"/>
    /// the command runs on a terminal of <paramref name="columns"/> x <paramref name="rows"/> (0: the default).
    /// </summary>
    public async Task<ExecAttachment> AttachExecAsync(string name, ExecRequest request, ushort columns = 0, ushort rows = 0, CancellationToken ct = default)
    {
        var query = new StringBuilder();
        void Add(string key, string value) =>
            query.Append(query.Length == 0 ? "" : "&").Append(key).Append('=').Append(Uri.EscapeDataString(value));
        foreach (var c in request.Command)
        {
            Add("cmd", c);
        }
        if (request.Tty)
        {
            Add("tty", "true");
        }
        if (columns > 0 && rows > 0)
        {
            Add("cols", columns.ToString(CultureInfo.InvariantCulture));
            Add("rows", rows.ToString(CultureInfo.InvariantCulture));
        }
        foreach (var (k, v) in request.Env ?? new Dictionary<string, string>())
        {
            Add("env", k + "=" + v);
        }
        if (request.WorkingDir is { } wd)
        {
            Add("workdir", wd);
        }
        if (request.User is { } user)
        {
            Add("user", user);
        }
        var socket = await ConnectWebSocketAsync(Q($"v1/instances/{N(name)}/exec/attach", query.ToString()), "exec", ct).ConfigureAwait(false);
        return new ExecAttachment(socket);
    }
}

/// <summary>An attached exec (see <see cref="StrataClient.AttachExecAsync"/>): stdin in, output out, then the exit code.</summary>
public sealed class ExecAttachment(WebSocket socket) : IDisposable
{
    private readonly SemaphoreSlim _sending = new(1, 1);

    public WebSocket Socket => socket;

    /// <summary>
    /// Copies <paramref name="input"/> to the command (its end becomes the command's end of input) and the command's
    /// stdout/stderr (with a terminal: the terminal) to <paramref name="stdout"/>/<paramref name="stderr"/>, until the
    /// command exits; returns its exit code. A pending read of <paramref name="input"/> is left behind at the exit
    /// (a console read cannot be cancelled).
    /// </summary>
    public async Task<int> RunAsync(Stream? input, Stream stdout, Stream stderr, CancellationToken ct = default)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        if (input is not null)
        {
            _ = Task.Run(() => PumpInputAsync(input, stop.Token), CancellationToken.None);
        }
        try
        {
            var buffer = new byte[64 * 1024];
            while (true)
            {
                var r = await ReceiveMessageAsync(buffer, ct).ConfigureAwait(false);
                if (r.Type == WebSocketMessageType.Close)
                {
                    throw new StrataApiException(ErrorKind.Unavailable, 0, "the daemon closed the exec before the command's exit code came", null);
                }
                if (r.Type == WebSocketMessageType.Binary && r.Count > 0)
                {
                    var target = buffer[0] == 2 ? stderr : stdout;
                    await target.WriteAsync(buffer.AsMemory(1, r.Count - 1), ct).ConfigureAwait(false);
                    await target.FlushAsync(ct).ConfigureAwait(false);
                    continue;
                }
                using var control = JsonDocument.Parse(buffer.AsMemory(0, r.Count));
                if (control.RootElement.TryGetProperty("type", out var t) && t.GetString() == "exit"
                    && control.RootElement.TryGetProperty("code", out var code))
                {
                    await CloseQuietlyAsync().ConfigureAwait(false);
                    return code.GetInt32();
                }
            }
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Sends stdin bytes.</summary>
    public Task SendInputAsync(ReadOnlyMemory<byte> bytes, CancellationToken ct = default) => SendAsync(bytes, WebSocketMessageType.Binary, ct);

    /// <summary>End of input: closes the command's stdin (with a terminal: types ^D).</summary>
    public Task CloseInputAsync(CancellationToken ct = default) => SendAsync("""{"type":"eof"}"""u8.ToArray(), WebSocketMessageType.Text, ct);

    /// <summary>New terminal size.</summary>
    public Task ResizeAsync(ushort columns, ushort rows, CancellationToken ct = default) =>
        SendAsync(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $$"""{"type":"resize","cols":{{columns}},"rows":{{rows}}}""")), WebSocketMessageType.Text, ct);

    private async Task PumpInputAsync(Stream input, CancellationToken ct)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            int n;
            while ((n = await input.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
            {
                await SendInputAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
            }
            await CloseInputAsync(ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException)
        {
            // the exec ended (or the connection did): nothing left to feed
        }
    }

    private async Task SendAsync(ReadOnlyMemory<byte> message, WebSocketMessageType type, CancellationToken ct)
    {
        await _sending.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            await socket.SendAsync(message, type, endOfMessage: true, ct).ConfigureAwait(false);
        }
        finally
        {
            _sending.Release();
        }
    }

    private async Task<(WebSocketMessageType Type, int Count)> ReceiveMessageAsync(byte[] buffer, CancellationToken ct)
    {
        var count = 0;
        while (true)
        {
            var r = await socket.ReceiveAsync(buffer.AsMemory(count), ct).ConfigureAwait(false);
            count += r.Count;
            if (r.EndOfMessage || r.MessageType == WebSocketMessageType.Close || count == buffer.Length)
            {
                return (r.MessageType, count);
            }
        }
    }

    private async Task CloseQuietlyAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        try
        {
            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException)
        {
        }
    }

    public void Dispose()
    {
        socket.Dispose();
        _sending.Dispose();
    }
}
