using System.Net.WebSockets;
using Strata.Contracts;

namespace Strata.Client;

public sealed partial class StrataClient
{
    /// <summary>
    /// Attaches to a running instance's console (<c>GET /v1/instances/{name}/console</c> upgraded to a WebSocket):
    /// binary messages both ways. Close or dispose the socket to detach.
    /// </summary>
    public Task<WebSocket> AttachConsoleAsync(string name, CancellationToken ct = default) =>
        ConnectWebSocketAsync(Q($"v1/instances/{N(name)}/console"), "console", ct);

    /// <summary>
    /// Upgrades <paramref name="path"/> to a WebSocket. A refused upgrade throws the daemon's problem (from the
    /// X-Strata-Error header, or by asking the same URL without the upgrade).
    /// </summary>
    private async Task<WebSocket> ConnectWebSocketAsync(string path, string what, CancellationToken ct)
    {
        var http = new Uri(_http.BaseAddress!, path);
        var uri = new UriBuilder(http) { Scheme = http.Scheme == Uri.UriSchemeHttps ? "wss" : "ws" }.Uri;
        var socket = new ClientWebSocket();
        socket.Options.KeepAliveInterval = TimeSpan.FromSeconds(30);
        socket.Options.CollectHttpResponseDetails = true;
        if (_options.Token is { Length: > 0 } token)
        {
            socket.Options.SetRequestHeader("Authorization", "Bearer " + token);
        }
        try
        {
            using var invoker = new HttpMessageInvoker(_handler, disposeHandler: false);
            await socket.ConnectAsync(uri, invoker, ct).ConfigureAwait(false);
            return socket;
        }
        catch (WebSocketException) when (socket.HttpResponseHeaders?.TryGetValue("X-Strata-Error", out var detail) == true)
        {
            var status = (int)socket.HttpStatusCode;
            socket.Dispose();
            var kind = status switch
            {
                400 => ErrorKind.InvalidArgument,
                401 => ErrorKind.Unauthorized,
                403 => ErrorKind.Forbidden,
                404 => ErrorKind.NotFound,
                409 => ErrorKind.Conflict,
                503 => ErrorKind.Unavailable,
                _ => ErrorKind.Internal,
            };
            var message = string.Join(' ', detail!);
            // "field: message" from StrataException.Invalid keeps its field, as JSON problems do.
            var colon = message.IndexOf(": ", StringComparison.Ordinal);
            var field = kind == ErrorKind.InvalidArgument && colon > 0 && !message[..colon].Contains(' ', StringComparison.Ordinal) ? message[..colon] : null;
            throw new StrataApiException(kind, status, message, field);
        }
        catch (WebSocketException)
        {
            socket.Dispose();
        }
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        using var response = await SendRawAsync(request, HttpCompletionOption.ResponseContentRead, ct).ConfigureAwait(false);
        throw new StrataApiException(ErrorKind.Internal, (int)response.StatusCode, $"the daemon did not accept the {what} connection", null);
    }
}
