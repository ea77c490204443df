using System.CommandLine;
using System.Net.WebSockets;

namespace Strata.Cli;

/// <summary><c>strata console NAME</c>: the instance's serial console, interactively; Ctrl-] detaches.</summary>
internal static class ConsoleCommands
{
    /// <summary>Ctrl-] (telnet's and virsh's escape): detaches and leaves the instance running.</summary>
    internal const byte DetachKey = 0x1d;

    public static Command Console()
    {
        var instance = new Argument<string>("instance");
        var command = new Command("console", "Attach to a running VM's serial console (input and output); detach with Ctrl-]") { instance };
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            var name = parse.GetValue(instance)!;
            using var client = StrataCli.Client(parse);
            using var socket = await client.AttachConsoleAsync(name, ct);
            var interactive = !System.Console.IsInputRedirected;
            if (interactive)
            {
                System.Console.Error.Write($"Connected to the console of {name}; detach with Ctrl-]\r\n");
            }
            using var raw = interactive ? RawTerminal.Enter() : null;
            var detached = await PumpAsync(socket, ct);
            if (socket.State == WebSocketState.Open)
            {
                using var closeTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                try
                {
                    await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "detached", closeTimeout.Token);
                }
                catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException)
                {
                }
            }
            raw?.Dispose();
            System.Console.Error.Write(detached ? "\r\nDetached; the instance keeps running\r\n" : "\r\nThe console closed (the instance stopped?)\r\n");
            return 0;
        }));
        return command;
    }

    /// <summary>Copies stdin to the console and the console to stdout; true when the user detached, false when the console closed.</summary>
    private static async Task<bool> PumpAsync(WebSocket socket, CancellationToken ct)
    {
        using var stdout = System.Console.OpenStandardOutput();
        var stdin = System.Console.OpenStandardInput();
        var detach = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var input = Task.Run(async () =>
        {
            var buffer = new byte[1024];
            try
            {
                while (true)
                {
                    var n = await stdin.ReadAsync(buffer, ct);
                    if (n == 0)
                    {
                        break; // end of input (a pipe) detaches, as the detach key does
                    }
                    var at = Array.IndexOf(buffer, DetachKey, 0, n);
                    if (at >= 0)
                    {
                        if (at > 0)
                        {
                            await socket.SendAsync(buffer.AsMemory(0, at), WebSocketMessageType.Binary, true, ct);
                        }
                        break;
                    }
                    await socket.SendAsync(buffer.AsMemory(0, n), WebSocketMessageType.Binary, true, ct);
                }
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException)
            {
                return;
            }
            detach.TrySetResult();
        }, CancellationToken.None);
        var output = Task.Run(async () =>
        {
            var buffer = new byte[4096];
            try
            {
                while (true)
                {
                    var r = await socket.ReceiveAsync(buffer.AsMemory(), ct);
                    if (r.MessageType == WebSocketMessageType.Close)
                    {
                        return;
                    }
                    await stdout.WriteAsync(buffer.AsMemory(0, r.Count), ct);
                    await stdout.FlushAsync(ct);
                }
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException)
            {
            }
        }, CancellationToken.None);
        // A pending read of stdin cannot be cancelled; it is left behind when the console closes (the process ends).
        var first = await Task.WhenAny(detach.Task, output);
        return first == detach.Task;
    }
}
