using System.Globalization;
using System.IO.Pipelines;
using System.Text;
using System.Threading.Channels;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Qemu.Guest;

namespace Strata.Node.Drivers.Sandbox;

/// <summary>
/// exec attached to the caller (<c>strata exec -i/-t</c>) in a sandbox, over the same agent and connection as the plain
/// exec: <c>ID i BASE64</c> runs the command with its stdin on a pipe in the guest, <c>ID t BASE64 COLS ROWS</c> on a
/// terminal (the guest's busybox telnetd on a pty; <see cref="GuestTerminal"/> speaks its side). Input travels as
/// <c>ID 0 BASE64</c> lines, a resize as <c>ID W COLS ROWS</c> (the agent sets the pty's size, and the kernel tells the
/// command with SIGWINCH), the end of input as <c>ID E -</c>, and <c>ID K -</c> ends the command when its client goes.
/// </summary>
public sealed partial class SandboxDriver
{
    /// <summary>Input bytes per request line (4 KiB of base64: one write on the port, and one atomic write into the guest's pipe).</summary>
    private const int ExecInputChunk = 3072;

    public async Task<ExecSession> StartExecAsync(DriverHandle handle, ExecRequest request, ushort columns, ushort rows, CancellationToken cancellationToken)
    {
        var (script, sup, ticks) = PrepareExec(handle, request);
        var id = NewExecId();
        var encoded = Convert.ToBase64String(Encoding.UTF8.GetBytes(script));
        var line = request.Tty
            ? string.Create(CultureInfo.InvariantCulture, $"{id} t {encoded} {columns} {rows}")
            : $"{id} i {encoded}";
        var channel = await _execChannels.AcquireAsync(Path.Combine(handle.Directory, ExecSocketName), sup, ticks, cancellationToken).ConfigureAwait(false);
        try
        {
            var replies = channel.Register(id);
            await channel.SendAsync(line, cancellationToken).ConfigureAwait(false);
            return new SandboxExecSession(this, channel, id, request.Tty, replies);
        }
        catch
        {
            channel.Unregister(id);
            _execChannels.Release(channel);
            throw;
        }
    }

    private sealed class SandboxExecSession : ExecSession
    {
        private readonly SandboxDriver _driver;
        private readonly GuestExecChannel _channel;
        private readonly string _id;
        private readonly bool _tty;
        private readonly Pipe _output = new();
        private readonly Pipe? _error;
        private readonly Task<int> _exited;
        private int _disposed;

        public SandboxExecSession(SandboxDriver driver, GuestExecChannel channel, string id, bool tty, ChannelReader<GuestExecReply> replies)
        {
            _driver = driver;
            _channel = channel;
            _id = id;
            _tty = tty;
            _error = tty ? null : new Pipe();
            Input = new InputStream(this);
            Output = _output.Reader.AsStream();
            Error = _error?.Reader.AsStream();
            _exited = PumpAsync(replies);
        }

        public override Stream Input { get; }
        public override Stream Output { get; }
        public override Stream? Error { get; }
        public override Task<int> Exited => _exited;

        /// <summary>Replies to the output pipes until the exit code; a connection that ends first ends the session with 255.</summary>
        private async Task<int> PumpAsync(ChannelReader<GuestExecReply> replies)
        {
            var terminal = _tty ? new GuestTerminal.OutputDecoder() : null;
            var code = 255;
            try
            {
                await foreach (var reply in replies.ReadAllAsync().ConfigureAwait(false))
                {
                    if (reply.Kind == 'X')
                    {
                        code = int.Parse(reply.Payload, NumberStyles.Integer, CultureInfo.InvariantCulture);
                        break;
                    }
                    var bytes = Convert.FromBase64String(reply.Payload);
                    // With a terminal, stderr carries only telnetd's own complaints: shown as they are.
                    var (pipe, data) = reply.Kind == '1' && terminal is not null ? (_output, terminal.Decode(bytes))
                        : reply.Kind == '2' && _error is not null ? (_error, bytes)
                        : (_output, bytes);
                    await pipe.Writer.WriteAsync(data).ConfigureAwait(false);
                }
            }
            catch (StrataException e)
            {
                var message = Encoding.UTF8.GetBytes((_tty ? "\r\n" : "") + "strata: " + e.Message + (_tty ? "\r\n" : "\n"));
                await (_error ?? _output).Writer.WriteAsync(message).ConfigureAwait(false);
            }
            catch (FormatException)
            {
                // a garbled line: the connection is not the agent's; end the session
            }
            await _output.Writer.CompleteAsync().ConfigureAwait(false);
            if (_error is not null)
            {
                await _error.Writer.CompleteAsync().ConfigureAwait(false);
            }
            return code;
        }

        private async Task SendInputAsync(ReadOnlyMemory<byte> typed, CancellationToken ct)
        {
            var bytes = _tty ? GuestTerminal.EncodeInput(typed.Span) : typed.ToArray();
            for (var offset = 0; offset < bytes.Length; offset += ExecInputChunk)
            {
                var chunk = Convert.ToBase64String(bytes, offset, Math.Min(ExecInputChunk, bytes.Length - offset));
                await SendAsync($"{_id} 0 {chunk}", ct).ConfigureAwait(false);
            }
        }

        private async Task SendAsync(string line, CancellationToken ct)
        {
            if (_exited.IsCompleted)
            {
                throw new IOException("the command has exited");
            }
            try
            {
                await _channel.SendAsync(line, ct).ConfigureAwait(false);
            }
            catch (StrataException e)
            {
                throw new IOException(e.Message, e);
            }
        }

        public override async ValueTask CloseInputAsync(CancellationToken cancellationToken)
        {
            try
            {
                // A terminal has no end of input, only the EOF character (what ^D types).
                if (_tty)
                {
                    await SendInputAsync(new byte[] { 0x04 }, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    await SendAsync($"{_id} E -", cancellationToken).ConfigureAwait(false);
                }
            }
            catch (IOException)
            {
            }
        }

        public override void Resize(ushort columns, ushort rows)
        {
            if (_tty && columns > 0 && rows > 0 && !_exited.IsCompleted)
            {
                _ = SendAsync(string.Create(CultureInfo.InvariantCulture, $"{_id} W {columns} {rows}"), CancellationToken.None)
                    .ContinueWith(t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            }
        }

        public override async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
            {
                return;
            }
            if (!_exited.IsCompleted)
            {
                try
                {
                    await _channel.SendAsync($"{_id} K -", CancellationToken.None).ConfigureAwait(false);
                    await _exited.WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
                }
                catch (Exception e) when (e is StrataException or TimeoutException)
                {
                    // the sandbox is gone, or slow to end the command: it ends without us
                }
            }
            _channel.Unregister(_id);
            _driver._execChannels.Release(_channel);
            await _output.Reader.CompleteAsync().ConfigureAwait(false);
            if (_error is not null)
            {
                await _error.Reader.CompleteAsync().ConfigureAwait(false);
            }
        }

        /// <summary>The command's input: each write goes to the guest as request lines.</summary>
        private sealed class InputStream(SandboxExecSession session) : Stream
        {
            public override bool CanRead => false;
            public override bool CanSeek => false;
            public override bool CanWrite => true;
            public override long Length => throw new NotSupportedException();
            public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

            public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
                new(session.SendInputAsync(buffer, cancellationToken));

            public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
                session.SendInputAsync(buffer.AsMemory(offset, count), cancellationToken);

            public override void Write(byte[] buffer, int offset, int count) =>
                session.SendInputAsync(buffer.AsMemory(offset, count), CancellationToken.None).GetAwaiter().GetResult();

            public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;
            public override void Flush() { }
            public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
            public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
            public override void SetLength(long value) => throw new NotSupportedException();
        }
    }
}
