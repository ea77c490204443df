using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace Strata.Bench.DockerApi;

/// <summary>
/// The docker CLI's floor for <c>docker run --rm</c>: a unix socket answering the exact request sequence a run sends
/// (<c>HEAD /_ping</c>, <c>POST /containers/create</c>, the attach upgrade, <c>wait?condition=removed</c>,
/// <c>start</c>) at once, with no container behind it: the wait's head is sent at once (the CLI sends the start only
/// after it), and the attach stream and the wait's body end when the start has been answered, as for a container that
/// exits at once. What a run through it costs is the CLI's own share of a run
/// (its start-up, its requests and its teardown), which no daemon can take away. Any other request is a 404 and is
/// counted in <see cref="Unexpected"/>, so a CLI that sends more shows up in the output.
/// </summary>
internal sealed class FloorServer : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _started = new(StringComparer.Ordinal);
    private readonly Task _accepting;
    private int _next;

    public FloorServer(string path)
    {
        _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        _listener.Bind(new UnixDomainSocketEndPoint(path));
        _listener.Listen(64);
        _accepting = AcceptAsync();
    }

    /// <summary>Requests outside a run's sequence (method and path).</summary>
    public ConcurrentBag<string> Unexpected { get; } = [];

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket connection;
            try
            {
                connection = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            _ = ServeAsync(connection);
        }
    }

    private async Task ServeAsync(Socket connection)
    {
        await using var stream = new NetworkStream(connection, ownsSocket: true);
        var buffer = new byte[64 * 1024];
        var filled = 0;
        try
        {
            while (true)
            {
                // One request: headers up to the blank line, then Content-Length bytes of body (the CLI sends no chunks).
                int end;
                while ((end = buffer.AsSpan(0, filled).IndexOf("\r\n\r\n"u8)) < 0)
                {
                    var n = await stream.ReadAsync(buffer.AsMemory(filled), _stop.Token);
                    if (n == 0)
                    {
                        return;
                    }
                    filled += n;
                }
                var head = Encoding.ASCII.GetString(buffer, 0, end).Split("\r\n");
                var length = head.Skip(1).Select(h => h.Split(':', 2)).Where(h => h.Length == 2 && h[0].Trim().Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
                    .Select(h => int.Parse(h[1].Trim(), CultureInfo.InvariantCulture)).FirstOrDefault();
                var consumed = end + 4 + length;
                while (filled < consumed)
                {
                    var n = await stream.ReadAsync(buffer.AsMemory(filled), _stop.Token);
                    if (n == 0)
                    {
                        return;
                    }
                    filled += n;
                }
                Buffer.BlockCopy(buffer, consumed, buffer, 0, filled - consumed);
                filled -= consumed;
                var parts = head[0].Split(' ');
                if (!await AnswerAsync(stream, parts[0], parts[1]))
                {
                    return; // the connection was taken over (attach) and is done
                }
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or SocketException)
        {
        }
    }

    /// <summary>Answers one request; false when the connection is finished.</summary>
    private async Task<bool> AnswerAsync(NetworkStream stream, string method, string target)
    {
        var path = target.Split('?')[0];
        if (path.StartsWith("/v1.", StringComparison.Ordinal))
        {
            path = path[path.IndexOf('/', 1)..];
        }
        var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (path == "/_ping")
        {
            await WriteAsync(stream, "200 OK", "text/plain", method == "HEAD" ? "" : "OK", "Api-Version: 1.43\r\nOstype: linux\r\nDocker-Experimental: false\r\n", contentLength: 2);
            return true;
        }
        if (method == "POST" && path == "/containers/create")
        {
            var id = Interlocked.Increment(ref _next).ToString("x64", CultureInfo.InvariantCulture);
            _started[id] = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            await WriteAsync(stream, "201 Created", "application/json", $"{{\"Id\":\"{id}\",\"Warnings\":[]}}");
            return true;
        }
        if (method == "POST" && segments is ["containers", var cid, var verb] && _started.TryGetValue(cid, out var started))
        {
            switch (verb)
            {
                case "attach":
                    await stream.WriteAsync(Encoding.ASCII.GetBytes(
                        "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"));
                    await started.Task;
                    return false; // no output; the stream ends with the (instant) run
                case "wait":
                    // The head at once, the body at the exit: the CLI sends the start only once the wait's head is in.
                    await stream.WriteAsync("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"u8.ToArray());
                    await started.Task;
                    _started.TryRemove(cid, out _);
                    var body = "{\"StatusCode\":0,\"Error\":null}\n";
                    await stream.WriteAsync(Encoding.ASCII.GetBytes($"{body.Length:x}\r\n{body}\r\n0\r\n\r\n"));
                    return true;
                case "start":
                    await WriteAsync(stream, "204 No Content", null, "");
                    started.TrySetResult();
                    return true;
            }
        }
        Unexpected.Add(method + " " + target);
        await WriteAsync(stream, "404 Not Found", "application/json", "{\"message\":\"not part of a run\"}");
        return true;
    }

    private static async Task WriteAsync(NetworkStream stream, string status, string? contentType, string body, string extraHeaders = "", int? contentLength = null)
    {
        var bytes = Encoding.UTF8.GetBytes(body);
        var head = $"HTTP/1.1 {status}\r\n{(contentType is null ? "" : $"Content-Type: {contentType}\r\n")}{extraHeaders}"
            + (status.StartsWith("204", StringComparison.Ordinal) ? "" : $"Content-Length: {contentLength ?? bytes.Length}\r\n") + "\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head).Concat(bytes).ToArray());
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Dispose();
        await _accepting;
        _stop.Dispose();
    }
}
