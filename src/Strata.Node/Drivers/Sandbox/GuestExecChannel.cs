using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;
using Strata.Contracts;
using Strata.Node.Supervision;

namespace Strata.Node.Drivers.Sandbox;

/// <summary>One reply line of the guest's exec agent: <c>ID KIND PAYLOAD</c> (KIND 1 stdout, 2 stderr, X exit code).</summary>
internal readonly record struct GuestExecReply(char Kind, string Payload);

/// <summary>
/// The host's one connection to a sandbox's exec agent (<c>exec.sock</c>, the <c>strata.exec</c> port). QEMU serves one
/// client at a time, so every exec of a sandbox, plain or attached, shares it: requests are written whole lines under a
/// lock, and one reader hands each reply line to the request whose ID it carries (replies of an abandoned request are
/// dropped). <see cref="GuestExecChannels"/> opens it for the first user and closes it after the last, so an idle
/// sandbox has no client (and another driver object, such as a restarted daemon's, can connect).
/// </summary>
internal sealed class GuestExecChannel : IDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly SemaphoreSlim _writing = new(1, 1);
    private readonly ConcurrentDictionary<string, Channel<GuestExecReply>> _requests = new(StringComparer.Ordinal);
    private volatile Exception? _broken;

    private GuestExecChannel(Socket socket, string socketPath)
    {
        _socket = socket;
        SocketPath = socketPath;
        _stream = new NetworkStream(socket, ownsSocket: false);
        _ = ReadAsync();
    }

    public string SocketPath { get; }

    /// <summary>Users (under <see cref="GuestExecChannels"/>' lock).</summary>
    public int Users { get; set; }

    public bool Broken => _broken is not null;

    /// <summary>Connects; QEMU creates the socket a moment after it starts: retry (every 50 ms, up to 10 s) while the VM runs.</summary>
    public static async Task<GuestExecChannel> ConnectAsync(string socketPath, int supervisorPid, long supervisorTicks, CancellationToken ct)
    {
        var deadline = Environment.TickCount64 + 10_000;
        while (true)
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), ct).ConfigureAwait(false);
                return new GuestExecChannel(socket, socketPath);
            }
            catch (SocketException e)
            {
                socket.Dispose();
                if (Environment.TickCount64 > deadline || !ProcessIdentity.IsAlive(supervisorPid, supervisorTicks))
                {
                    throw new StrataException(ErrorKind.Conflict, $"the sandbox's exec channel {socketPath} is not accepting ({e.SocketErrorCode}); is it still running?", inner: e);
                }
            }
            catch (OperationCanceledException)
            {
                socket.Dispose();
                throw;
            }
            await Task.Delay(50, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Replies for <paramref name="id"/> from now on; the reader fails with a Conflict when the connection ends.</summary>
    public ChannelReader<GuestExecReply> Register(string id)
    {
        var replies = Channel.CreateUnbounded<GuestExecReply>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        _requests[id] = replies;
        if (_broken is { } e)
        {
            replies.Writer.TryComplete(e);
        }
        return replies.Reader;
    }

    /// <summary>No more replies for <paramref name="id"/>: its reader ends (a later reply is dropped).</summary>
    public void Unregister(string id)
    {
        if (_requests.TryRemove(id, out var replies))
        {
            replies.Writer.TryComplete();
        }
    }

    /// <summary>Writes one request line (the newline is added).</summary>
    public async Task SendAsync(string line, CancellationToken ct)
    {
        var bytes = Encoding.ASCII.GetBytes(line + "\n");
        await _writing.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_broken is { } e)
            {
                throw e;
            }
            await _stream.WriteAsync(bytes, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            throw Stopped(e);
        }
        finally
        {
            _writing.Release();
        }
    }

    private async Task ReadAsync()
    {
        Exception? failure = null;
        try
        {
            using var reader = new StreamReader(_stream, Encoding.ASCII, leaveOpen: true);
            while (await reader.ReadLineAsync().ConfigureAwait(false) is { } line)
            {
                var parts = line.Split(' ', 3);
                if (parts.Length == 3 && parts[1].Length == 1 && _requests.TryGetValue(parts[0], out var replies))
                {
                    replies.Writer.TryWrite(new GuestExecReply(parts[1][0], parts[2]));
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            failure = e;
        }
        var ended = Stopped(failure);
        _broken = ended;
        foreach (var replies in _requests.Values)
        {
            replies.Writer.TryComplete(ended);
        }
    }

    private static StrataException Stopped(Exception? inner) =>
        new(ErrorKind.Conflict, "the sandbox's exec channel closed before the command finished: the sandbox stopped", inner: inner);

    public void Dispose()
    {
        _broken ??= Stopped(null);
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }
        _stream.Dispose();
        _socket.Dispose();
    }
}

/// <summary>The open <see cref="GuestExecChannel"/>s of one driver, one per sandbox, counted by their users.</summary>
internal sealed class GuestExecChannels
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Task<GuestExecChannel>> _open = new(StringComparer.Ordinal);

    public async Task<GuestExecChannel> AcquireAsync(string socketPath, int supervisorPid, long supervisorTicks, CancellationToken ct)
    {
        while (true)
        {
            Task<GuestExecChannel> opening;
            lock (_lock)
            {
                if (!_open.TryGetValue(socketPath, out opening!) || (opening.IsCompletedSuccessfully && opening.Result.Broken) || opening.IsFaulted || opening.IsCanceled)
                {
                    // One connect for all who come while it is under way; not tied to one caller's cancellation.
                    opening = GuestExecChannel.ConnectAsync(socketPath, supervisorPid, supervisorTicks, CancellationToken.None);
                    _open[socketPath] = opening;
                }
            }
            var channel = await opening.WaitAsync(ct).ConfigureAwait(false);
            lock (_lock)
            {
                // Its last user may have closed it in between: then open another.
                if (!channel.Broken && _open.TryGetValue(socketPath, out var current) && current == opening)
                {
                    channel.Users++;
                    return channel;
                }
            }
        }
    }

    public void Release(GuestExecChannel channel)
    {
        lock (_lock)
        {
            if (--channel.Users > 0)
            {
                return;
            }
            if (_open.TryGetValue(channel.SocketPath, out var current) && current.IsCompletedSuccessfully && current.Result == channel)
            {
                _open.Remove(channel.SocketPath);
            }
        }
        channel.Dispose();
    }
}
