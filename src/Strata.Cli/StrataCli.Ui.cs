using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Strata.Client;

namespace Strata.Cli;

/// <summary>
/// <c>strata ui</c>: the daemon's web dashboard for this host's administrator. Listens on 127.0.0.1 only and forwards
/// to the unix socket (where the caller is a host administrator), so every API request through it must carry a
/// random key printed once in the URL; without it only the dashboard's static files (no data) are served.
/// </summary>
public static partial class StrataCli
{
    private const int HeadLimit = 64 * 1024;

    internal static Command Ui()
    {
        var port = new Option<int>("--port") { Description = "local port to serve on (127.0.0.1 only; 0 picks a free one)", DefaultValueFactory = _ => 7080 };
        var command = new Command("ui", "Serve the web dashboard on 127.0.0.1 over the daemon's unix socket (for this host's administrator) and print its URL") { port };
        command.SetAction(async (parse, ct) => await Guard(async () =>
        {
            var options = ClientOptions.FromEnvironment(parse.GetValue(SocketOption), parse.GetValue(HostOption));
            if (options.Host is not null)
            {
                Console.Error.WriteLine($"strata: 'strata ui' forwards to the local unix socket; a daemon on {options.Host} serves the dashboard itself at {new Uri(options.Host, "/ui/")}");
                return ExitUsage;
            }
            using (var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
            {
                try
                {
                    await probe.ConnectAsync(new UnixDomainSocketEndPoint(options.Socket), ct);
                }
                catch (SocketException e)
                {
                    Console.Error.WriteLine($"strata: cannot reach the daemon at {options.Socket} ({e.Message}); start it (strata daemon) or pass --socket; the socket is for root and the strata group");
                    return ExitError;
                }
            }
            var key = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
            var listener = new TcpListener(IPAddress.Loopback, parse.GetValue(port));
            try
            {
                listener.Start();
            }
            catch (SocketException e)
            {
                Console.Error.WriteLine($"strata: cannot listen on 127.0.0.1:{parse.GetValue(port)} ({e.Message}); pick another with --port");
                return ExitError;
            }
            var bound = ((IPEndPoint)listener.LocalEndpoint).Port;
            Console.WriteLine($"http://127.0.0.1:{bound}/ui/#token={key}");
            Console.Error.WriteLine("Open the URL above (its key lets the page act as this host's administrator). Ctrl-C stops.");
            try
            {
                while (true)
                {
                    var client = await listener.AcceptTcpClientAsync(ct);
                    _ = Task.Run(() => ForwardAsync(client, options.Socket, key, bound, ct), ct);
                }
            }
            catch (OperationCanceledException)
            {
                return 0;
            }
            finally
            {
                listener.Stop();
            }
        }));
        return command;
    }

    /// <summary>Forwards one browser connection request by request, checking each request's key; WebSockets are piped once upgraded.</summary>
    private static async Task ForwardAsync(TcpClient client, string socketPath, string key, int port, CancellationToken ct)
    {
        using var tcp = client;
        using var unix = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            var down = tcp.GetStream();
            await unix.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), ct);
            await using var up = new NetworkStream(unix, ownsSocket: false);
            // When the daemon ends the connection (its keep-alive timeout), end the browser's too, so its next request opens a new one.
            var responses = up.CopyToAsync(down, ct).ContinueWith(_ => client.Close(), TaskScheduler.Default);
            var buffer = new byte[HeadLimit];
            int start = 0, end = 0;
            while (true)
            {
                // Read one request head (up to the blank line).
                int headEnd;
                while ((headEnd = buffer.AsSpan(start, end - start).IndexOf("\r\n\r\n"u8)) < 0)
                {
                    if (start > 0)
                    {
                        Buffer.BlockCopy(buffer, start, buffer, 0, end - start);
                        end -= start;
                        start = 0;
                    }
                    if (end == buffer.Length)
                    {
                        await RefuseAsync(down, 431, "the request head is too large");
                        return;
                    }
                    var n = await down.ReadAsync(buffer.AsMemory(end), ct);
                    if (n == 0)
                    {
                        unix.Shutdown(SocketShutdown.Send);
                        await responses;
                        return;
                    }
                    end += n;
                }
                var headLength = headEnd + 4;
                var head = Encoding.ASCII.GetString(buffer, start, headLength);
                var (target, headers) = ParseHead(head);
                var upgrade = headers.TryGetValue("upgrade", out var u) && u.Equals("websocket", StringComparison.OrdinalIgnoreCase);
                if (!Allowed(target, headers, key, port, upgrade, out var why))
                {
                    await RefuseAsync(down, 401, why);
                    return;
                }
                // Latin-1 maps every byte to one char and back, so the head is forwarded byte for byte but for the key.
                await up.WriteAsync(Encoding.Latin1.GetBytes(WithoutCredentials(Encoding.Latin1.GetString(buffer, start, headLength))), ct);
                start += headLength;
                if (upgrade)
                {
                    await up.WriteAsync(buffer.AsMemory(start, end - start), ct);
                    await down.CopyToAsync(up, ct);
                    unix.Shutdown(SocketShutdown.Send);
                    await responses;
                    return;
                }
                if (headers.ContainsKey("transfer-encoding"))
                {
                    await RefuseAsync(down, 411, "send a Content-Length");
                    return;
                }
                var body = headers.TryGetValue("content-length", out var cl) && long.TryParse(cl, out var length) ? length : 0;
                while (body > 0)
                {
                    if (start == end)
                    {
                        start = end = 0;
                        var n = await down.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, body)), ct);
                        if (n == 0)
                        {
                            return;
                        }
                        end = n;
                    }
                    var take = (int)Math.Min(body, end - start);
                    await up.WriteAsync(buffer.AsMemory(start, take), ct);
                    start += take;
                    body -= take;
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // the browser or the daemon went away
        }
    }

    /// <summary>
    /// The request head without the key (its Authorization header, or the WebSocket's <c>strata-token</c> cookie):
    /// the key is this command's, not a daemon token, and a token on the socket acts as that token — an unknown one
    /// is a 401. Without one, the socket's own rule applies: the local administrator.
    /// </summary>
    private static string WithoutCredentials(string head) =>
        string.Join("\r\n", head.Split("\r\n").Where(line =>
            !line.StartsWith("authorization:", StringComparison.OrdinalIgnoreCase) && !line.StartsWith("cookie:", StringComparison.OrdinalIgnoreCase)));

    private static (string Target, Dictionary<string, string> Headers) ParseHead(string head)
    {
        var lines = head.Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        var parts = lines[0].Split(' ');
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
            {
                headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
            }
        }
        return (parts.Length > 1 ? parts[1] : "/", headers);
    }

    private static bool Allowed(string target, Dictionary<string, string> headers, string key, int port, bool upgrade, out string why)
    {
        why = "";
        // A page of another site that resolves its name to 127.0.0.1 (DNS rebinding) names its own host.
        var host = headers.GetValueOrDefault("host", "");
        if (host != $"127.0.0.1:{port}" && host != $"localhost:{port}")
        {
            why = $"this server answers only to 127.0.0.1:{port}";
            return false;
        }
        if (!upgrade && (target == "/ui" || target.StartsWith("/ui/", StringComparison.Ordinal)))
        {
            return true; // the dashboard's files: no data
        }
        var presented = headers.GetValueOrDefault("authorization", "") is var a && a.StartsWith("Bearer ", StringComparison.Ordinal) ? a[7..].Trim()
            : upgrade ? Cookie(headers.GetValueOrDefault("cookie", ""), "strata-token") : null;
        if (presented is not null && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(presented), Encoding.UTF8.GetBytes(key)))
        {
            return true;
        }
        why = "this request needs the key of the URL 'strata ui' printed (open that URL)";
        return false;
    }

    private static string? Cookie(string header, string name)
    {
        foreach (var part in header.Split(';'))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0 && part[..eq].Trim() == name)
            {
                return Uri.UnescapeDataString(part[(eq + 1)..].Trim());
            }
        }
        return null;
    }

    private static async Task RefuseAsync(Stream down, int status, string detail)
    {
        var json = $"{{\"status\":{status},\"title\":\"refused\",\"detail\":\"{detail.Replace("\"", "'", StringComparison.Ordinal)}\",\"kind\":\"{(status == 401 ? "unauthorized" : "invalid-argument")}\"}}";
        var response = $"HTTP/1.1 {status} Refused\r\nContent-Type: application/problem+json\r\nContent-Length: {Encoding.UTF8.GetByteCount(json)}\r\nConnection: close\r\n\r\n{json}";
        await down.WriteAsync(Encoding.UTF8.GetBytes(response));
    }
}
