using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Microsoft.AspNetCore.Connections;

namespace Strata.Daemon.DockerApi;

/// <summary>
/// Docker clients send <c>POST /exec/{id}/start</c> as an HTTP upgrade (<c>Connection: Upgrade</c>, <c>Upgrade: tcp</c>)
/// that also carries a JSON body. Kestrel refuses an upgrade request with a body, so on a docker socket every
/// request head is read here first: an upgrade request's body is taken off the wire (and kept in the connection's
/// items for the handler, <see cref="Take"/>), its head says <c>Content-Length: 0</c>, and what follows is the
/// upgraded stream, passed through untouched. Other requests pass through as they are.
/// </summary>
internal static class UpgradeRequestBodies
{
    private const string BodyItem = "strata.docker.upgrade-body";
    private const int MaxHead = 64 * 1024;
    private const int MaxBody = 1024 * 1024;
    private static readonly byte[] EndOfHead = "\r\n\r\n"u8.ToArray();

    public static async Task RunAsync(ConnectionContext connection, ConnectionDelegate next)
    {
        var transport = connection.Transport;
        var pipe = new Pipe();
        var state = new State();
        using var closed = new CancellationTokenSource();
        // Docker clients half-close an attached connection when they have no input to send (shutdown of their
        // write side). Kestrel takes the end of input for the end of the connection and aborts the response: once
        // the connection is upgraded, only the end of input is passed on (the stream reads 0), not "closed".
        using var watch = connection.ConnectionClosed.Register(() =>
        {
            if (!state.Upgraded)
            {
                closed.Cancel();
            }
        });
        var wrapped = new Connection(connection, new DuplexPipe(pipe.Reader, transport.Output), closed.Token);
        var pump = PumpAsync(transport.Input, pipe.Writer, connection.Items, state);
        try
        {
            await next(wrapped).ConfigureAwait(false);
        }
        finally
        {
            transport.Input.CancelPendingRead();
            await pump.ConfigureAwait(false);
        }
    }

    private sealed class State
    {
        public volatile bool Upgraded;
    }

    /// <summary>The connection as Kestrel's HTTP layer sees it: our transport and our notion of "closed".</summary>
    private sealed class Connection(ConnectionContext inner, IDuplexPipe transport, CancellationToken closed) : ConnectionContext
    {
        public override string ConnectionId { get => inner.ConnectionId; set => inner.ConnectionId = value; }
        public override Microsoft.AspNetCore.Http.Features.IFeatureCollection Features => inner.Features;
        public override IDictionary<object, object?> Items { get => inner.Items; set => inner.Items = value; }
        public override IDuplexPipe Transport { get; set; } = transport;
        public override CancellationToken ConnectionClosed { get => closed; set { } }
        public override System.Net.EndPoint? LocalEndPoint { get => inner.LocalEndPoint; set => inner.LocalEndPoint = value; }
        public override System.Net.EndPoint? RemoteEndPoint { get => inner.RemoteEndPoint; set => inner.RemoteEndPoint = value; }
        public override void Abort(ConnectionAbortedException abortReason) => inner.Abort(abortReason);
        public override void Abort() => inner.Abort();
        public override ValueTask DisposeAsync() => inner.DisposeAsync();
    }

    /// <summary>The body of the upgrade request being handled on this connection, if it had one.</summary>
    public static byte[]? Take(HttpContext http)
    {
        var items = http.Features.Get<Microsoft.AspNetCore.Connections.Features.IConnectionItemsFeature>()?.Items;
        if (items is null || !items.TryGetValue(BodyItem, out var body))
        {
            return null;
        }
        items.Remove(BodyItem);
        return body as byte[];
    }

    private static async Task PumpAsync(PipeReader input, PipeWriter output, IDictionary<object, object?> items, State state)
    {
        var passThrough = false;
        long bodyLeft = 0;
        try
        {
            while (true)
            {
                var result = await input.ReadAsync().ConfigureAwait(false);
                if (result.IsCanceled)
                {
                    break;
                }
                var buffer = result.Buffer;
                while (buffer.Length > 0)
                {
                    if (passThrough)
                    {
                        Copy(buffer, output);
                        buffer = buffer.Slice(buffer.End);
                        break;
                    }
                    if (bodyLeft > 0)
                    {
                        var n = Math.Min(bodyLeft, buffer.Length);
                        Copy(buffer.Slice(0, n), output);
                        bodyLeft -= n;
                        buffer = buffer.Slice(n);
                        continue;
                    }
                    var end = Find(buffer, EndOfHead);
                    if (end < 0)
                    {
                        if (buffer.Length > MaxHead)
                        {
                            passThrough = true; // not ours to judge: Kestrel answers 431
                            continue;
                        }
                        break;
                    }
                    var headLength = end + EndOfHead.Length;
                    var head = Encoding.Latin1.GetString(buffer.Slice(0, headLength));
                    var (upgrade, contentLength, chunked) = Inspect(head);
                    if (upgrade && contentLength > 0 && contentLength <= MaxBody)
                    {
                        if (buffer.Length < headLength + contentLength)
                        {
                            break; // wait for the whole body
                        }
                        items[BodyItem] = buffer.Slice(headLength, contentLength).ToArray();
                        output.Write(Encoding.Latin1.GetBytes(WithoutBody(head)));
                        buffer = buffer.Slice(headLength + contentLength);
                        passThrough = true;
                        state.Upgraded = true;
                        continue;
                    }
                    Copy(buffer.Slice(0, headLength), output);
                    buffer = buffer.Slice(headLength);
                    if (upgrade || chunked)
                    {
                        passThrough = true; // an upgraded stream, or a body whose end only HTTP parsing finds
                        state.Upgraded |= upgrade;
                    }
                    else
                    {
                        bodyLeft = contentLength;
                    }
                }
                input.AdvanceTo(buffer.Start, buffer.End);
                var flushed = await output.FlushAsync().ConfigureAwait(false);
                if (result.IsCompleted || flushed.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (Exception e) when (e is IOException or ConnectionResetException or InvalidOperationException or OperationCanceledException)
        {
        }
        await output.CompleteAsync().ConfigureAwait(false);
    }

    private static (bool Upgrade, long ContentLength, bool Chunked) Inspect(string head)
    {
        bool upgrade = false, chunked = false;
        long length = 0;
        foreach (var line in head.Split("\r\n").Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                continue;
            }
            var name = line[..colon].Trim();
            var value = line[(colon + 1)..].Trim();
            if (name.Equals("Connection", StringComparison.OrdinalIgnoreCase) && value.Contains("upgrade", StringComparison.OrdinalIgnoreCase))
            {
                upgrade = true;
            }
            else if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                _ = long.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out length);
            }
            else if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase) && value.Contains("chunked", StringComparison.OrdinalIgnoreCase))
            {
                chunked = true;
            }
        }
        return (upgrade, length, chunked);
    }

    private static string WithoutBody(string head) =>
        string.Join("\r\n", head.Split("\r\n").Select(line =>
            line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase) ? "Content-Length: 0" : line));

    private static long Find(ReadOnlySequence<byte> buffer, byte[] needle)
    {
        var reader = new SequenceReader<byte>(buffer);
        return reader.TryReadTo(out ReadOnlySequence<byte> before, needle, advancePastDelimiter: false) ? before.Length : -1;
    }

    private static void Copy(ReadOnlySequence<byte> data, PipeWriter output)
    {
        foreach (var segment in data)
        {
            output.Write(segment.Span);
        }
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;
        public PipeWriter Output { get; } = output;
    }
}
