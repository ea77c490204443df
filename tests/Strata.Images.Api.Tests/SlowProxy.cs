using System.Net;
using System.Net.Sockets;

namespace Strata.Images.Api.Tests;

/// <summary>
/// A loopback TCP proxy in front of a real registry that sends the registry's answers at a fixed rate, so a pull
/// of a few MiB takes seconds: long enough to cancel it mid-download without racing the transfer.
/// </summary>
public sealed class SlowProxy : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly int _target;
    private readonly int _bytesPerSecond;

    public SlowProxy(int targetPort, int bytesPerSecond)
    {
        _target = targetPort;
        _bytesPerSecond = bytesPerSecond;
        _listener.Start();
        _ = AcceptLoopAsync();
    }

    public string Host => $"127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            _ = ServeAsync(client);
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using (client)
        using (var upstream = new TcpClient())
        {
            try
            {
                await upstream.ConnectAsync(IPAddress.Loopback, _target, _stop.Token);
                var up = client.GetStream().CopyToAsync(upstream.GetStream(), _stop.Token);
                var down = ThrottledCopyAsync(upstream.GetStream(), client.GetStream(), _stop.Token);
                await Task.WhenAny(up, down);
            }
            catch (Exception e) when (e is OperationCanceledException or IOException or SocketException)
            {
            }
        }
    }

    private async Task ThrottledCopyAsync(Stream from, Stream to, CancellationToken ct)
    {
        var chunk = Math.Max(1024, _bytesPerSecond / 20);
        var buffer = new byte[chunk];
        int n;
        while ((n = await from.ReadAsync(buffer, ct)) > 0)
        {
            await to.WriteAsync(buffer.AsMemory(0, n), ct);
            // Simulates a slow link (not a wait for a condition): 20 chunks per second.
            await Task.Delay(TimeSpan.FromSeconds((double)n / _bytesPerSecond), ct);
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        _listener.Dispose();
        _stop.Dispose();
    }
}
