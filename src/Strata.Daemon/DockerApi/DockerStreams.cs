using System.Buffers.Binary;
using System.Text;
using Microsoft.AspNetCore.Http.Features;
using Strata.Contracts;

namespace Strata.Daemon.DockerApi;

/// <summary>
/// Docker's output streams. Without a terminal, output is multiplexed: each frame is an 8-byte header (stream
/// 1 = stdout, 2 = stderr, three zero bytes, the payload length as a big-endian uint32) and the payload. With a
/// terminal it is the raw bytes. Attach and exec take over the connection (HTTP upgrade to <c>tcp</c>, 101).
/// </summary>
internal static class DockerStreams
{
    public const string Multiplexed = "application/vnd.docker.multiplexed-stream";
    public const string Raw = "application/vnd.docker.raw-stream";

    public static byte StreamNumber(string stream) => stream == "stderr" ? (byte)2 : (byte)1;

    public static async Task WriteFrameAsync(Stream output, byte stream, ReadOnlyMemory<byte> payload, CancellationToken ct)
    {
        if (payload.Length == 0)
        {
            return;
        }
        var frame = new byte[8 + payload.Length];
        frame[0] = stream;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(4), (uint)payload.Length);
        payload.Span.CopyTo(frame.AsSpan(8));
        await output.WriteAsync(frame, ct).ConfigureAwait(false);
    }

    /// <summary>One log record as Docker shows it: its text, the newline unless it was a partial line, and a timestamp when asked.</summary>
    public static byte[] Line(LogRecord record, bool timestamps)
    {
        var text = record.Partial ? record.Text : record.Text + "\n";
        if (timestamps)
        {
            text = record.Time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'00Z'", System.Globalization.CultureInfo.InvariantCulture) + " " + text;
        }
        return Encoding.UTF8.GetBytes(text);
    }

    /// <summary>
    /// Takes the connection over: with <c>Connection: Upgrade</c> answers 101 and returns the raw duplex stream;
    /// otherwise answers 200 with the stream as the body and the request body as input (older clients).
    /// </summary>
    public static async Task<(Stream Output, Stream Input)> HijackAsync(HttpContext http, bool multiplexed)
    {
        var contentType = multiplexed ? Multiplexed : Raw;
        var upgrade = http.Features.Get<IHttpUpgradeFeature>();
        if (upgrade is { IsUpgradableRequest: true })
        {
            http.Response.Headers.ContentType = contentType;
            http.Response.Headers.Connection = "Upgrade";
            http.Response.Headers.Upgrade = "tcp";
            var stream = await upgrade.UpgradeAsync().ConfigureAwait(false);
            return (stream, stream);
        }
        http.Response.ContentType = contentType;
        await http.Response.StartAsync(http.RequestAborted).ConfigureAwait(false);
        await http.Response.Body.FlushAsync(http.RequestAborted).ConfigureAwait(false);
        return (http.Response.Body, http.Request.Body);
    }
}
