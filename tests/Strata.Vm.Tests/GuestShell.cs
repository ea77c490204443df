using System.Net.Sockets;
using System.Text;

namespace Strata.Vm.Tests;

/// <summary>
/// A shell in a running guest over the <c>strata.exec</c> port: the workload <see cref="Workload"/> reads one command
/// line at a time from the port and answers with its output and an end marker. Tests use it to look inside a VM.
/// </summary>
internal sealed class GuestShell : IAsyncDisposable
{
    private const string EndMarker = "@@STRATA-END";
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly StringBuilder _pending = new();

    private GuestShell(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
    }

    /// <summary>argv for a busybox image: find the exec port, then serve commands on it until the VM ends.</summary>
    public static string[] Workload =>
    [
        "sh", "-c",
        "for d in /sys/class/virtio-ports/*; do [ \"$(cat $d/name)\" = strata.exec ] && p=/dev/${d##*/}; done; "
        + "echo agent-ready; "
        + "while true; do exec 3<>$p; while read -r cmd <&3; do eval \"$cmd\" >&3 2>&1; echo \"" + EndMarker + " $?\" >&3; done; exec 3<&-; sleep 0.1; done",
    ];

    public static async Task<GuestShell> ConnectAsync(string socketPath, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath));
                return new GuestShell(socket);
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                socket.Dispose();
                await Task.Delay(50);
            }
        }
    }

    /// <summary>Runs one command line in the guest; returns its output (stdout+stderr) without the marker.</summary>
    public async Task<string> RunAsync(string command, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        await _stream.WriteAsync(Encoding.UTF8.GetBytes(command + "\n"), cts.Token);
        var buffer = new byte[4096];
        while (true)
        {
            var text = _pending.ToString();
            var at = text.IndexOf(EndMarker, StringComparison.Ordinal);
            if (at >= 0)
            {
                var lineEnd = text.IndexOf('\n', at);
                if (lineEnd >= 0)
                {
                    _pending.Remove(0, lineEnd + 1);
                    return text[..at];
                }
            }
            var n = await _stream.ReadAsync(buffer, cts.Token);
            if (n == 0)
            {
                throw new IOException("the guest closed the exec port");
            }
            _pending.Append(Encoding.UTF8.GetString(buffer, 0, n));
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
        _socket.Dispose();
    }
}
