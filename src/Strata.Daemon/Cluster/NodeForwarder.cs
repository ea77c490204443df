using System.Collections.Concurrent;
using System.Net.Security;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Strata.Cluster;
using Strata.Contracts;
using Strata.Daemon.Api;

namespace Strata.Daemon.Cluster;

/// <summary>
/// Sends a request about an instance to the node that runs it and relays the answer as it comes: plain requests
/// (stop, start, logs, <c>logs -f</c> streams) byte for byte, WebSockets (<c>exec -it</c>, <c>console</c>) message
/// for message. The receiving node trusts the caller this node authenticated because the request carries the
/// cluster token (<see cref="ClusterPeer"/>). A node whose API speaks TLS is reached over HTTPS and must show
/// the certificate its node record pins.
/// </summary>
public sealed class NodeForwarder : IDisposable
{
    private static readonly HashSet<string> Hop = new(StringComparer.OrdinalIgnoreCase)
    {
        "Authorization", "Host", "Connection", "Keep-Alive", "Transfer-Encoding", "Upgrade", "Proxy-Connection", "TE", "Trailer",
        "Content-Length", Authentication.ProjectHeader, ClusterPeer.CallerHeader, ClusterPeer.ForwardedByHeader,
        "Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Extensions", "Sec-WebSocket-Protocol", "Sec-WebSocket-Accept",
    };

    private readonly string _node;
    private readonly string _token;
    private readonly ConcurrentDictionary<string, byte> _pins = new(StringComparer.OrdinalIgnoreCase);
    private readonly SocketsHttpHandler _handler;
    private readonly HttpClient _http;

    public NodeForwarder(string node, string token)
    {
        _node = node;
        _token = token;
        _handler = new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(5),
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1),
            SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = (_, cert, _, _) => Pinned(cert) },
        };
        _http = new HttpClient(_handler, disposeHandler: false) { Timeout = Timeout.InfiniteTimeSpan };
    }

    /// <summary>A certificate's pin as node records carry it: SHA-256 of its DER bytes, hex.</summary>
    public static string Pin(X509Certificate2 certificate) => Convert.ToHexStringLower(SHA256.HashData(certificate.RawData));

    private bool Pinned(X509Certificate? cert) =>
        cert is not null && _pins.ContainsKey(Convert.ToHexStringLower(SHA256.HashData(cert.GetRawCertData())));

    /// <summary>Relays the request to <paramref name="owner"/> on behalf of <paramref name="caller"/> and copies its answer back.</summary>
    public async Task ForwardAsync(HttpContext http, NodeRecord owner, Caller caller)
    {
        if (owner.RequirePin() is { } pin)
        {
            _pins[pin] = 0;
        }
        var target = $"{owner.Address}{http.Request.PathBase}{http.Request.Path}{http.Request.QueryString}";
        try
        {
            if (http.WebSockets.IsWebSocketRequest)
            {
                await WebSocketAsync(http, new Uri((owner.Tls ? "wss://" : "ws://") + target), owner, caller).ConfigureAwait(false);
            }
            else
            {
                await PlainAsync(http, new Uri((owner.Tls ? "https://" : "http://") + target), caller).ConfigureAwait(false);
            }
        }
        catch (HttpRequestException e)
        {
            throw Unreachable(owner, e);
        }
    }

    /// <summary>Whether <paramref name="node"/> answers 200 to a GET of <paramref name="path"/> on behalf of <paramref name="caller"/> (unreachable: no).</summary>
    public async Task<bool> ProbeAsync(NodeRecord node, string path, Caller caller, CancellationToken ct) =>
        (await GetAsync(node, path, caller, ct).ConfigureAwait(false)).Body is not null;

    /// <summary>
    /// The body of <paramref name="node"/>'s 200 answer to a GET of <paramref name="path"/> on behalf of
    /// <paramref name="caller"/> (within 5 s), or null with why it did not give one.
    /// </summary>
    public async Task<(byte[]? Body, string? Why)> GetAsync(NodeRecord node, string path, Caller caller, CancellationToken ct)
    {
        if (node.Tls)
        {
            if (node.CertificateSha256 is not { Length: > 0 } pin)
            {
                return (null, "it speaks TLS but its record pins no certificate");
            }
            _pins[pin] = 0;
        }
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri((node.Tls ? "https://" : "http://") + node.Address + path));
        foreach (var (name, value) in PeerHeaders(caller))
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(TimeSpan.FromSeconds(5));
        try
        {
            using var response = await _http.SendAsync(request, limit.Token).ConfigureAwait(false);
            return response.IsSuccessStatusCode
                ? (await response.Content.ReadAsByteArrayAsync(limit.Token).ConfigureAwait(false), null)
                : (null, $"it answered {(int)response.StatusCode}");
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException && !ct.IsCancellationRequested)
        {
            return (null, e is OperationCanceledException ? "it did not answer within 5 s" : e.Message);
        }
    }

    private static StrataException Unreachable(NodeRecord owner, Exception e) => new(ErrorKind.Unavailable,
        $"node {owner.Name} at {owner.Address}, which runs this instance, did not answer ({e.Message}); check it with 'strata node inspect {owner.Name}'", inner: e);

    private async Task PlainAsync(HttpContext http, Uri uri, Caller caller)
    {
        var ct = http.RequestAborted;
        using var request = new HttpRequestMessage(new HttpMethod(http.Request.Method), uri);
        if (http.Request.ContentLength > 0 || http.Request.Headers.TransferEncoding.Count > 0)
        {
            request.Content = new StreamContent(http.Request.Body);
        }
        foreach (var (name, values) in http.Request.Headers)
        {
            if (Hop.Contains(name))
            {
                continue;
            }
            if (!request.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values))
            {
                request.Content?.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values);
            }
        }
        foreach (var (name, value) in PeerHeaders(caller))
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        http.Response.StatusCode = (int)response.StatusCode;
        foreach (var (name, values) in response.Headers.Concat(response.Content.Headers))
        {
            if (!Hop.Contains(name))
            {
                http.Response.Headers[name] = values.ToArray();
            }
        }
        await using var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        var buffer = new byte[16 * 1024];
        int n;
        while ((n = await body.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
        {
            await http.Response.Body.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
            await http.Response.Body.FlushAsync(ct).ConfigureAwait(false); // logs -f: each line as it comes
        }
    }

    private async Task WebSocketAsync(HttpContext http, Uri uri, NodeRecord owner, Caller caller)
    {
        var ct = http.RequestAborted;
        using var upstream = new ClientWebSocket();
        upstream.Options.CollectHttpResponseDetails = true;
        foreach (var (name, value) in PeerHeaders(caller))
        {
            upstream.Options.SetRequestHeader(name, value);
        }
        foreach (var protocol in http.WebSockets.WebSocketRequestedProtocols)
        {
            upstream.Options.AddSubProtocol(protocol);
        }
        try
        {
            using var invoker = new HttpMessageInvoker(_handler, disposeHandler: false);
            await upstream.ConnectAsync(uri, invoker, ct).ConfigureAwait(false);
        }
        catch (WebSocketException e)
        {
            // The owner refused the handshake: relay its status and its reason (X-Strata-Error) as it gave them.
            if (upstream.HttpStatusCode == 0)
            {
                throw Unreachable(owner, e);
            }
            var detail = upstream.HttpResponseHeaders?.TryGetValue(ConsoleEndpoints.ErrorHeader, out var d) == true ? string.Join(' ', d) : e.Message;
            var refusal = new StrataException(KindOf((int)upstream.HttpStatusCode), detail);
            ConsoleEndpoints.ExplainRefusal(http, refusal);
            throw refusal;
        }
        using var downstream = await http.WebSockets.AcceptWebSocketAsync(upstream.SubProtocol).ConfigureAwait(false);
        using var both = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var toClient = PumpAsync(upstream, downstream, both.Token);
        var toOwner = PumpAsync(downstream, upstream, both.Token);
        await Task.WhenAny(toClient, toOwner).ConfigureAwait(false);
        // One side closed: give the other a moment to finish its close, then end both.
        both.CancelAfter(TimeSpan.FromSeconds(5));
        await Task.WhenAll(toClient, toOwner).ConfigureAwait(false);
    }

    /// <summary>Copies messages from one socket to the other until a close, which it passes on.</summary>
    private static async Task PumpAsync(WebSocket from, WebSocket to, CancellationToken ct)
    {
        var buffer = new byte[32 * 1024];
        try
        {
            while (true)
            {
                var r = await from.ReceiveAsync(buffer, ct).ConfigureAwait(false);
                if (r.MessageType == WebSocketMessageType.Close)
                {
                    if (to.State is WebSocketState.Open or WebSocketState.CloseReceived)
                    {
                        await to.CloseOutputAsync(from.CloseStatus ?? WebSocketCloseStatus.NormalClosure, from.CloseStatusDescription, ct).ConfigureAwait(false);
                    }
                    return;
                }
                await to.SendAsync(buffer.AsMemory(0, r.Count), r.MessageType, r.EndOfMessage, ct).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException)
        {
            // the other side went away; the caller ends both
        }
    }

    private IEnumerable<(string Name, string Value)> PeerHeaders(Caller caller)
    {
        yield return ("Authorization", "Bearer " + _token);
        yield return (ClusterPeer.CallerHeader, ClusterPeer.Encode(caller));
        yield return (ClusterPeer.ForwardedByHeader, _node);
    }

    private static ErrorKind KindOf(int status) => status switch
    {
        400 => ErrorKind.InvalidArgument,
        401 => ErrorKind.Unauthorized,
        403 => ErrorKind.Forbidden,
        404 => ErrorKind.NotFound,
        409 => ErrorKind.Conflict,
        499 => ErrorKind.Cancelled,
        503 => ErrorKind.Unavailable,
        _ => ErrorKind.Internal,
    };

    public void Dispose()
    {
        _http.Dispose();
        _handler.Dispose();
    }
}
