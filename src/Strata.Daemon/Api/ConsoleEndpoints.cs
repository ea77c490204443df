using System.Net.WebSockets;
using Strata.Contracts;
using Strata.Control;

namespace Strata.Daemon.Api;

/// <summary>
/// <c>GET /v1/instances/{name}/console</c>, upgraded to a WebSocket: binary messages carry the console's output to
/// the client and the client's keystrokes to the console. The same URL without the upgrade answers the problem an
/// attach would hit (unknown instance, no console on its tier, not running) or 400 when all is well, so a client
/// whose upgrade was refused can learn why.
/// </summary>
public static class ConsoleEndpoints
{
    /// <summary>Carries the problem's detail on a refused upgrade.</summary>
    public const string ErrorHeader = "X-Strata-Error";

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/v1/instances/{name}/console", AttachAsync)
            .WithTags("instances")
            .WithSummary("Attach to a running instance's console (vm: the serial port) over a WebSocket; binary frames both ways.");
    }

    private static async Task AttachAsync(string name, HttpContext http, InstanceService service)
    {
        var project = InstanceEndpoints.Project(http);
        if (!http.WebSockets.IsWebSocketRequest)
        {
            service.CheckConsole(project, name);
            throw StrataException.Invalid("upgrade", "the console is a WebSocket: connect with 'Upgrade: websocket' (strata console NAME does)");
        }
        Stream opened;
        try
        {
            opened = await service.OpenConsoleAsync(project, name, http.RequestAborted).ConfigureAwait(false);
        }
        catch (StrataException e)
        {
            ExplainRefusal(http, e);
            throw;
        }
        await using var console = opened;
        using var socket = await http.WebSockets.AcceptWebSocketAsync().ConfigureAwait(false);
        using var done = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
        var output = PumpOutputAsync(console, socket, done.Token);
        var input = PumpInputAsync(socket, console, done.Token);
        if (await Task.WhenAny(output, input).ConfigureAwait(false) == output && socket.State == WebSocketState.Open)
        {
            // The console ended (the VM stopped): tell the client with a close frame before the input side is dropped.
            using var closeTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            try
            {
                await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "console closed", closeTimeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or WebSocketException or IOException)
            {
            }
        }
        await done.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(output, input).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException or IOException)
        {
            // One side went away; the other pump ends with it.
        }
        if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
        {
            using var closeTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            try
            {
                await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "console closed", closeTimeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or WebSocketException or IOException)
            {
            }
        }
    }

    /// <summary>A refused WebSocket handshake shows the client only status and headers, so the reason goes there too.</summary>
    internal static void ExplainRefusal(HttpContext http, StrataException e) =>
        http.Response.OnStarting(() =>
        {
            http.Response.Headers[ErrorHeader] = new string([.. e.Message.Select(c => c is >= ' ' and <= '~' ? c : '?')]);
            return Task.CompletedTask;
        });

    private static async Task PumpOutputAsync(Stream console, WebSocket socket, CancellationToken cancellationToken)
    {
        var buffer = new byte[4096];
        int n;
        while ((n = await console.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
        {
            await socket.SendAsync(buffer.AsMemory(0, n), WebSocketMessageType.Binary, endOfMessage: true, cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task PumpInputAsync(WebSocket socket, Stream console, CancellationToken cancellationToken)
    {
        var buffer = new byte[4096];
        while (true)
        {
            var r = await socket.ReceiveAsync(buffer.AsMemory(), cancellationToken).ConfigureAwait(false);
            if (r.MessageType == WebSocketMessageType.Close)
            {
                return;
            }
            await console.WriteAsync(buffer.AsMemory(0, r.Count), cancellationToken).ConfigureAwait(false);
            await console.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
    }
}
