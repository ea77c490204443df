using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Strata.Contracts;

namespace Strata.Qemu.Qmp;

/// <summary>
/// A QMP client over QEMU's unix server socket (<c>-qmp unix:PATH,server=on,wait=off</c>).
/// QEMU serves one client at a time and keeps running when the client goes away, so reattaching
/// after a daemon restart is simply <see cref="ConnectAsync"/> again on the same path.
/// Commands are tagged with an <c>id</c> so replies are matched even when events interleave.
/// </summary>
public sealed class QmpClient : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly ConcurrentDictionary<string, TaskCompletionSource<JsonElement>> _pending = new();
    private readonly Channel<QmpEvent> _events = Channel.CreateBounded<QmpEvent>(
        new BoundedChannelOptions(1024) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = false });
    private readonly CancellationTokenSource _closing = new();
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _readLoop = Task.CompletedTask;
    private long _nextId;

    private QmpClient(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: false);
    }

    /// <summary>QEMU's version as announced in the greeting, e.g. <c>7.2.22</c>.</summary>
    public string QemuVersion { get; private set; } = "";

    /// <summary>Completes when the connection is gone (QEMU quit, or the client was disposed).</summary>
    public Task Closed => _closed.Task;

    public bool IsConnected => !_closed.Task.IsCompleted;

    /// <summary>
    /// Connects, reads the greeting and negotiates capabilities. Retries while the socket does not
    /// exist yet or refuses (QEMU just started, or another client still holds it) until
    /// <paramref name="timeout"/> has passed, every <paramref name="retryDelay"/> when given (a start waiting on a QEMU
    /// it just launched), else backing off from 10 to 200 ms.
    /// </summary>
    public static async Task<QmpClient> ConnectAsync(string socketPath, TimeSpan timeout, CancellationToken cancellationToken, TimeSpan? retryDelay = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(socketPath);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        Exception? last = null;
        var delay = retryDelay ?? TimeSpan.FromMilliseconds(10);
        while (true)
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), deadline.Token).ConfigureAwait(false);
                var client = new QmpClient(socket);
                try
                {
                    await client.HandshakeAsync(deadline.Token).ConfigureAwait(false);
                    return client;
                }
                catch
                {
                    await client.DisposeAsync().ConfigureAwait(false);
                    throw;
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                socket.Dispose();
                throw new StrataException(ErrorKind.Cancelled, "connecting to QMP was cancelled");
            }
            catch (OperationCanceledException)
            {
                socket.Dispose();
                throw new StrataException(ErrorKind.Unavailable,
                    $"QMP socket {socketPath} did not answer within {timeout.TotalSeconds:0.#} s ({last?.Message ?? "no greeting"}); is QEMU running?");
            }
            catch (Exception e) when (e is SocketException or IOException or QmpProtocolException)
            {
                socket.Dispose();
                last = e;
            }
            try
            {
                await Task.Delay(delay, deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Loop once more so the catch blocks above produce the right error.
            }
            delay = retryDelay ?? TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 200));
        }
    }

    private async Task HandshakeAsync(CancellationToken cancellationToken)
    {
        // The greeting comes before anything is sent; read it synchronously, then start the loop.
        var reader = new LineReader(_stream);
        var greetingLine = await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false)
            ?? throw new QmpProtocolException("QMP closed before its greeting (another client may hold the socket)");
        using (var greeting = JsonDocument.Parse(greetingLine))
        {
            if (!greeting.RootElement.TryGetProperty("QMP", out var qmp))
            {
                throw new QmpProtocolException($"not a QMP greeting: {Truncate(greetingLine)}");
            }
            if (qmp.TryGetProperty("version", out var version) && version.TryGetProperty("qemu", out var q))
            {
                QemuVersion = $"{q.GetProperty("major").GetInt32()}.{q.GetProperty("minor").GetInt32()}.{q.GetProperty("micro").GetInt32()}";
            }
        }
        _readLoop = Task.Run(() => ReadLoopAsync(reader));
        await ExecuteAsync("qmp_capabilities", null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Runs one command and returns its <c>return</c> value. A QMP error becomes a
    /// <see cref="QmpException"/> carrying QEMU's error class and a mapped <see cref="ErrorKind"/>.
    /// </summary>
    public async Task<JsonElement> ExecuteAsync(string command, JsonObject? arguments = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(command);
        if (!IsConnected)
        {
            throw new StrataException(ErrorKind.Unavailable, $"QMP connection is closed; cannot run '{command}' (reconnect with QmpClient.ConnectAsync)");
        }
        var id = "s" + Interlocked.Increment(ref _nextId).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var tcs = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = tcs;
        try
        {
            var bytes = Serialize(command, id, arguments);
            await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                // One write for the object and its newline: QEMU acts on a command as soon as its closing
                // brace arrives, and after `quit` it closes the socket, so a separate newline write could
                // hit a closed connection (EPIPE) although the command was taken.
                await _stream.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
            }
            catch (IOException e)
            {
                throw new StrataException(ErrorKind.Unavailable, $"QMP connection broke while sending '{command}': {e.Message}", inner: e);
            }
            finally
            {
                _writeLock.Release();
            }
            return await tcs.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _pending.TryRemove(id, out _);
        }
    }

    // Written by hand (no reflection) so the library stays trimming- and NativeAOT-safe.
    private static byte[] Serialize(string command, string id, JsonObject? arguments)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("execute", command);
            w.WriteString("id", id);
            if (arguments is not null)
            {
                w.WritePropertyName("arguments");
                arguments.WriteTo(w);
            }
            w.WriteEndObject();
        }
        System.Buffers.BuffersExtensions.Write(buffer, "\n"u8);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Asynchronous events (SHUTDOWN, STOP, RESUME, POWERDOWN, JOB_STATUS_CHANGE, BALLOON_CHANGE, ...).</summary>
    public ChannelReader<QmpEvent> Events => _events.Reader;

    /// <summary>Events as an async stream; ends when the connection closes.</summary>
    public async IAsyncEnumerable<QmpEvent> ReadEventsAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        while (await _events.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            while (_events.Reader.TryRead(out var e))
            {
                yield return e;
            }
        }
    }

    /// <summary>Waits for the next event with the given name (events of other names are skipped).</summary>
    public async Task<QmpEvent> WaitForEventAsync(string name, CancellationToken cancellationToken)
    {
        await foreach (var e in ReadEventsAsync(cancellationToken).ConfigureAwait(false))
        {
            if (e.Name == name)
            {
                return e;
            }
        }
        throw new StrataException(ErrorKind.Unavailable, $"QMP connection closed before the {name} event");
    }

    private async Task ReadLoopAsync(LineReader reader)
    {
        Exception? failure = null;
        try
        {
            while (true)
            {
                var line = await reader.ReadLineAsync(_closing.Token).ConfigureAwait(false);
                if (line is null)
                {
                    break;
                }
                Dispatch(line);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
        {
            failure = e;
        }
        finally
        {
            var message = $"QMP connection closed{(failure is null or OperationCanceledException ? "" : ": " + failure.Message)}";
            foreach (var pending in _pending.Values)
            {
                pending.TrySetException(new StrataException(ErrorKind.Unavailable, message));
            }
            _events.Writer.TryComplete();
            _closed.TrySetResult();
        }
    }

    private void Dispatch(string line)
    {
        using var doc = JsonDocument.Parse(line);
        var root = doc.RootElement;
        if (root.TryGetProperty("event", out var name))
        {
            var data = root.TryGetProperty("data", out var d) ? d.Clone() : default;
            var time = DateTimeOffset.UnixEpoch;
            if (root.TryGetProperty("timestamp", out var ts))
            {
                time = DateTimeOffset.FromUnixTimeMilliseconds(ts.GetProperty("seconds").GetInt64() * 1000 + ts.GetProperty("microseconds").GetInt64() / 1000);
            }
            _events.Writer.TryWrite(new QmpEvent(name.GetString() ?? "", data, time));
            return;
        }
        var id = root.TryGetProperty("id", out var idElement) ? idElement.GetString() : null;
        if (id is null || !_pending.TryGetValue(id, out var tcs))
        {
            return; // A reply to a command whose caller gave up (cancelled); nothing waits for it.
        }
        if (root.TryGetProperty("return", out var ret))
        {
            tcs.TrySetResult(ret.Clone());
        }
        else if (root.TryGetProperty("error", out var error))
        {
            var cls = error.TryGetProperty("class", out var c) ? c.GetString() ?? "" : "";
            var desc = error.TryGetProperty("desc", out var ds) ? ds.GetString() ?? "" : "";
            tcs.TrySetException(new QmpException(cls, desc));
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _closing.CancelAsync().ConfigureAwait(false);
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
            // Already closed by QEMU.
        }
        _socket.Dispose();
        await _readLoop.ConfigureAwait(false);
        _closed.TrySetResult();
        _events.Writer.TryComplete();
        await _stream.DisposeAsync().ConfigureAwait(false);
        _closing.Dispose();
        _writeLock.Dispose();
    }

    private static string Truncate(string s) => s.Length <= 200 ? s : s[..200] + "...";

    /// <summary>Reads newline-terminated UTF-8 lines; QMP sends exactly one JSON object per line.</summary>
    private sealed class LineReader(Stream stream)
    {
        private readonly byte[] _buffer = new byte[64 * 1024];
        private readonly MemoryStream _line = new();
        private int _start;
        private int _end;

        public async Task<string?> ReadLineAsync(CancellationToken cancellationToken)
        {
            while (true)
            {
                var newline = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
                if (newline >= 0)
                {
                    _line.Write(_buffer, _start, newline - _start);
                    _start = newline + 1;
                    var text = Encoding.UTF8.GetString(_line.GetBuffer(), 0, (int)_line.Length).TrimEnd('\r');
                    _line.SetLength(0);
                    if (text.Length == 0)
                    {
                        continue;
                    }
                    return text;
                }
                _line.Write(_buffer, _start, _end - _start);
                if (_line.Length > 16 * 1024 * 1024)
                {
                    throw new IOException("QMP line longer than 16 MiB");
                }
                _start = _end = 0;
                var n = await stream.ReadAsync(_buffer, cancellationToken).ConfigureAwait(false);
                if (n == 0)
                {
                    return null;
                }
                _end = n;
            }
        }
    }
}

/// <summary>One asynchronous QMP event.</summary>
public sealed record QmpEvent(string Name, JsonElement Data, DateTimeOffset Timestamp);

/// <summary>QEMU refused a command. <see cref="Kind"/> maps QEMU's error class to Strata's error kinds.</summary>
public sealed class QmpException(string errorClass, string description)
    : Exception($"QMP error {errorClass}: {description}")
{
    public string ErrorClass { get; } = errorClass;
    public string Description { get; } = description;

    public ErrorKind Kind => ErrorClass switch
    {
        "CommandNotFound" => ErrorKind.Unavailable,
        "DeviceNotFound" => ErrorKind.NotFound,
        "DeviceNotActive" => ErrorKind.Conflict,
        "KVMMissingCap" => ErrorKind.Unavailable,
        _ => ErrorKind.InvalidArgument, // GenericError: QEMU's answer to bad arguments or wrong state.
    };

    public StrataException ToStrataException(string doing) => new(Kind, $"{doing}: QEMU said {ErrorClass}: {Description}", inner: this);
}

internal sealed class QmpProtocolException(string message) : Exception(message);
