using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Strata.Contracts;
using Strata.Contracts.Drivers;

namespace Strata.Client;

/// <summary>Where the daemon is and how to authenticate.</summary>
public sealed record ClientOptions
{
    public const string DefaultSocket = "/run/strata/strata.sock";

    /// <summary>Unix socket path (used when <see cref="Host"/> is null).</summary>
    public string Socket { get; init; } = DefaultSocket;

    /// <summary>TCP base address such as <c>http://127.0.0.1:7070</c>; needs <see cref="Token"/>.</summary>
    public Uri? Host { get; init; }

    public string? Token { get; init; }

    /// <summary>
    /// The project to act in. Null: the daemon decides (a project token's own project; <c>default</c> for
    /// administrators). A named project is sent with every request.
    /// </summary>
    public string? Project { get; init; }

    /// <summary>PEM file of the CA (or the self-signed certificate) that signed an HTTPS daemon's certificate.</summary>
    public string? TlsCaFile { get; init; }

    /// <summary>
    /// An HTTPS daemon's certificate pinned by the SHA-256 of its DER bytes (hex), as cluster nodes pin each other's
    /// (their node records carry it): that certificate and no other is trusted.
    /// </summary>
    public string? TlsCertificateSha256 { get; init; }

    /// <summary>When the client process started; sent with each request so the daemon's run timeline (debug log) covers client → daemon.</summary>
    public DateTimeOffset? StartedAt { get; init; }

    /// <summary>
    /// Explicit values first, then STRATA_SOCKET, STRATA_HOST, STRATA_TOKEN, STRATA_PROJECT and STRATA_TLS_CA,
    /// then the config file (<see cref="ClientConfig"/>).
    /// </summary>
    public static ClientOptions FromEnvironment(string? socket = null, string? host = null, string? token = null, string? project = null)
    {
        var config = ClientConfig.Load();
        host ??= Env("STRATA_HOST") ?? config?.Host;
        return new ClientOptions
        {
            Socket = socket ?? Env("STRATA_SOCKET") ?? config?.Socket ?? DefaultSocket,
            Host = string.IsNullOrEmpty(host) ? null : new Uri(host.Contains("://", StringComparison.Ordinal) ? host : "http://" + host),
            Token = token ?? Env("STRATA_TOKEN") ?? config?.Token,
            Project = project ?? Env("STRATA_PROJECT") ?? config?.Project,
            TlsCaFile = Env("STRATA_TLS_CA") ?? config?.TlsCa,
        };
    }

    private static string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;
}

/// <summary>A failure the daemon reported (problem details), with its kind, status and field.</summary>
public sealed class StrataApiException(ErrorKind kind, int status, string message, string? field) : Exception(message)
{
    public ErrorKind Kind { get; } = kind;
    public int Status { get; } = status;
    public string? Field { get; } = field;

    /// <summary>A failed operation's problem as the exception the same failure of a direct call throws.</summary>
    public static StrataApiException From(ProblemDetails problem) =>
        new(Enum.TryParse<ErrorKind>(problem.Kind?.Replace("-", "", StringComparison.Ordinal), ignoreCase: true, out var kind) ? kind : ErrorKind.Internal,
            problem.Status, problem.Detail ?? problem.Title ?? $"HTTP {problem.Status}", problem.Field);
}

/// <summary>The daemon could not be reached at all.</summary>
public sealed class DaemonUnreachableException(string message, Exception inner) : Exception(message, inner);

/// <summary>The typed client of the Strata REST API, used by the CLI and the tests.</summary>
public sealed partial class StrataClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly HttpMessageHandler _handler;
    private readonly ClientOptions _options;

    public StrataClient(ClientOptions options)
    {
        _options = options;
        HttpMessageHandler handler;
        if (options.Host is null)
        {
            var socketPath = options.Socket;
            handler = new SocketsHttpHandler
            {
                ConnectCallback = async (_, ct) =>
                {
                    var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                    try
                    {
                        await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), ct).ConfigureAwait(false);
                        return new NetworkStream(socket, ownsSocket: true);
                    }
                    catch
                    {
                        socket.Dispose();
                        throw;
                    }
                },
                UseProxy = false,
                PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1),
            };
        }
        else
        {
            var tcp = new SocketsHttpHandler { UseProxy = false };
            if (options.TlsCertificateSha256 is { Length: > 0 } pin)
            {
                tcp.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate is not null
                    && string.Equals(Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(certificate.GetRawCertData())), pin, StringComparison.OrdinalIgnoreCase);
            }
            else if (options.TlsCaFile is { } caFile)
            {
                var ca = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(File.ReadAllText(caFile));
                tcp.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, _) => TrustedBy(ca, certificate);
            }
            handler = tcp;
        }
        _handler = handler;
        _http = new HttpClient(handler)
        {
            BaseAddress = options.Host ?? new Uri("http://strata/"),
            Timeout = Timeout.InfiniteTimeSpan,
        };
        if (options.StartedAt is { } started)
        {
            _http.DefaultRequestHeaders.TryAddWithoutValidation("Strata-Client-Started",
                ((started - DateTimeOffset.UnixEpoch).Ticks / 10).ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        if (options.Token is { Length: > 0 } token)
        {
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
    }

    /// <summary>The daemon's certificate chains to <paramref name="ca"/> (and only to it), and its host name matched when checked.</summary>
    private static bool TrustedBy(System.Security.Cryptography.X509Certificates.X509Certificate2 ca, System.Security.Cryptography.X509Certificates.X509Certificate? presented)
    {
        if (presented is null)
        {
            return false;
        }
        using var leaf = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificate(presented.GetRawCertData());
        using var chain = new System.Security.Cryptography.X509Certificates.X509Chain();
        chain.ChainPolicy.TrustMode = System.Security.Cryptography.X509Certificates.X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck;
        return chain.Build(leaf);
    }

    public string Endpoint => _options.Host?.ToString() ?? $"unix:{_options.Socket}";

    /// <summary>The project every call names (null: the caller's own, or the default project).</summary>
    public string? Project => _options.Project;

    private string Q(string path, string? query = null)
    {
        var sep = path.Contains('?', StringComparison.Ordinal) ? '&' : '?';
        var project = _options.Project is null ? "" : $"{sep}project={Uri.EscapeDataString(_options.Project)}";
        if (query is not null)
        {
            project += (project.Length == 0 ? sep : '&') + query;
        }
        return path + project;
    }

    private static string N(string name) => Uri.EscapeDataString(name);

    public Task<DaemonInfo> InfoAsync(CancellationToken ct = default) => GetAsync("v1/info", StrataJsonContext.Default.DaemonInfo, ct);

    public Task<InstanceList> ListAsync(CancellationToken ct = default) => GetAsync(Q("v1/instances"), StrataJsonContext.Default.InstanceList, ct);

    public Task<InstanceInfo> GetAsync(string name, CancellationToken ct = default) =>
        GetAsync(Q($"v1/instances/{N(name)}"), StrataJsonContext.Default.InstanceInfo, ct);

    public Task<InstanceInfo> CreateAsync(InstanceSpec spec, bool start = true, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, Q("v1/instances"), Json(new CreateInstanceRequest { Spec = spec, Start = start }), StrataJsonContext.Default.InstanceInfo, ct);

    /// <summary>
    /// Starts a create (and, with <paramref name="start"/>, a start) as an operation and returns it at once: watch its
    /// steps with <see cref="WatchOperationAsync"/>, cancel it with <see cref="CancelOperationAsync"/>; its result is
    /// the <see cref="InstanceInfo"/>.
    /// </summary>
    public Task<OperationInfo> CreateOperationAsync(InstanceSpec spec, bool start = true, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, Q("v1/instances", "wait=false"), Json(new CreateInstanceRequest { Spec = spec, Start = start }), StrataJsonContext.Default.OperationInfo, ct);

    /// <summary>Creates, starts and streams an instance: its info first, then its output, then its exit.</summary>
    public IAsyncEnumerable<StreamFrame> RunAttachedAsync(InstanceSpec spec, CancellationToken ct = default) =>
        StreamAsync(HttpMethod.Post, Q("v1/instances", "attach=true"), Json(new CreateInstanceRequest { Spec = spec, Start = true }), ct);

    /// <summary>
    /// The attached run of <see cref="RunAttachedAsync"/> as a terminal needs it: the instance's name, its output and
    /// its exit. The instance frame is not decoded beyond the name, which spares a fresh process (the CLI) building
    /// the JSON metadata of the whole instance record (about a millisecond in NativeAOT).
    /// </summary>
    public async IAsyncEnumerable<RunFrame> RunOutputAsync(InstanceSpec spec, [EnumeratorCancellation] CancellationToken ct = default)
    {
        await foreach (var line in LinesAsync(HttpMethod.Post, Q("v1/instances", "attach=true"), Json(new CreateInstanceRequest { Spec = spec, Start = true }), ct).ConfigureAwait(false))
        {
            if (RunFrame.Parse(Encoding.UTF8.GetBytes(line)) is { } frame)
            {
                yield return frame;
            }
        }
    }

    public Task<InstanceInfo> StartAsync(string name, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, Q($"v1/instances/{N(name)}/start"), null, StrataJsonContext.Default.InstanceInfo, ct);

    public Task<InstanceInfo> StopAsync(string name, int timeoutSeconds = 10, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, Q($"v1/instances/{N(name)}/stop", $"timeout={timeoutSeconds}"), null, StrataJsonContext.Default.InstanceInfo, ct);

    public Task<InstanceInfo> KillAsync(string name, int signal = 9, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, Q($"v1/instances/{N(name)}/kill", $"signal={signal}"), null, StrataJsonContext.Default.InstanceInfo, ct);

    public async Task DeleteAsync(string name, bool force = false, CancellationToken ct = default)
    {
        using var response = await SendRawAsync(new HttpRequestMessage(HttpMethod.Delete, Q($"v1/instances/{N(name)}", force ? "force=true" : null)), HttpCompletionOption.ResponseContentRead, ct).ConfigureAwait(false);
    }

    public Task<WaitResult> WaitAsync(string name, CancellationToken ct = default) =>
        GetAsync(Q($"v1/instances/{N(name)}/wait"), StrataJsonContext.Default.WaitResult, ct);

    public IAsyncEnumerable<StreamFrame> LogsAsync(string name, int? tail = null, bool follow = false, CancellationToken ct = default)
    {
        var query = new StringBuilder();
        if (tail is { } t)
        {
            query.Append("tail=").Append(t);
        }
        if (follow)
        {
            query.Append(query.Length > 0 ? "&" : "").Append("follow=true");
        }
        return StreamAsync(HttpMethod.Get, Q($"v1/instances/{N(name)}/logs", query.Length > 0 ? query.ToString() : null), null, ct);
    }

    /// <summary>Runs a command in a running instance: its output as log frames, then an exit frame with its exit code.</summary>
    public IAsyncEnumerable<StreamFrame> ExecAsync(string name, ExecRequest request, CancellationToken ct = default) =>
        StreamAsync(HttpMethod.Post, Q($"v1/instances/{N(name)}/exec"), Json(request), ct);

    public Task<InstanceStats> StatsAsync(string name, CancellationToken ct = default) =>
        GetAsync(Q($"v1/instances/{N(name)}/stats"), StrataJsonContext.Default.InstanceStats, ct);

    public Task<ProcessList> TopAsync(string name, CancellationToken ct = default) =>
        GetAsync(Q($"v1/instances/{N(name)}/top"), StrataJsonContext.Default.ProcessList, ct);

    /// <summary>The OCI runtime configuration (config.json text) of a container instance.</summary>
    public Task<string> RuntimeConfigAsync(string name, CancellationToken ct = default) =>
        GetTextAsync(Q($"v1/instances/{N(name)}/runtime-config"), ct);

    public async IAsyncEnumerable<InstanceEvent> EventsAsync([EnumeratorCancellation] CancellationToken ct = default)
    {
        using var response = await SendRawAsync(new HttpRequestMessage(HttpMethod.Get, "v1/events"), HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false));
        while (await reader.ReadLineAsync(ct).ConfigureAwait(false) is { } line)
        {
            if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                yield return JsonSerializer.Deserialize(line.AsSpan(6), StrataJsonContext.Default.InstanceEvent)!;
            }
        }
    }

    public Task<ResizeResponse> ResizeAsync(string name, long? memoryBytes, double? cpus, CancellationToken ct = default)
    {
        var content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(new ResizeRequest { MemoryBytes = memoryBytes, Cpus = cpus }, StrataJsonContext.Default.ResizeRequest));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return SendAsync(HttpMethod.Post, Q($"v1/instances/{N(name)}/resize"), content, StrataJsonContext.Default.ResizeResponse, ct);
    }

    public Task<SnapshotInfo> CreateSnapshotAsync(string name, string? snapshot = null, CancellationToken ct = default)
    {
        var content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(new CreateSnapshotRequest { Name = snapshot }, StrataJsonContext.Default.CreateSnapshotRequest));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return SendAsync(HttpMethod.Post, Q($"v1/instances/{N(name)}/snapshots"), content, StrataJsonContext.Default.SnapshotInfo, ct);
    }

    public Task<SnapshotList> ListSnapshotsAsync(string name, CancellationToken ct = default) =>
        GetAsync(Q($"v1/instances/{N(name)}/snapshots"), StrataJsonContext.Default.SnapshotList, ct);

    public Task<InstanceInfo> RestoreSnapshotAsync(string name, string snapshot, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, Q($"v1/instances/{N(name)}/snapshots/{N(snapshot)}/restore"), null, StrataJsonContext.Default.InstanceInfo, ct);

    public async Task DeleteSnapshotAsync(string name, string snapshot, CancellationToken ct = default)
    {
        using var response = await SendRawAsync(new HttpRequestMessage(HttpMethod.Delete, Q($"v1/instances/{N(name)}/snapshots/{N(snapshot)}")), HttpCompletionOption.ResponseContentRead, ct).ConfigureAwait(false);
    }

    public async Task StopDaemonAsync(bool all, CancellationToken ct = default)
    {
        using var response = await SendRawAsync(new HttpRequestMessage(HttpMethod.Post, all ? "v1/daemon/stop?all=true" : "v1/daemon/stop"), HttpCompletionOption.ResponseContentRead, ct).ConfigureAwait(false);
    }

    /// <summary>Any GET returning raw text (e.g. /metrics, /openapi/v1.json).</summary>
    public async Task<string> GetTextAsync(string path, CancellationToken ct = default)
    {
        using var response = await SendRawAsync(new HttpRequestMessage(HttpMethod.Get, path), HttpCompletionOption.ResponseContentRead, ct).ConfigureAwait(false);
        return await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
    }

    private static ByteArrayContent Json(CreateInstanceRequest request)
    {
        var content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(request, StrataRequestJsonContext.Default.CreateInstanceRequest));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return content;
    }

    private static ByteArrayContent Json(ExecRequest request)
    {
        var content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(request, StrataRequestJsonContext.Default.ExecRequest));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return content;
    }

    private Task<T> GetAsync<T>(string path, JsonTypeInfo<T> type, CancellationToken ct) => SendAsync(HttpMethod.Get, path, null, type, ct);

    private async Task<T> SendAsync<T>(HttpMethod method, string path, HttpContent? content, JsonTypeInfo<T> type, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        using var response = await SendRawAsync(request, HttpCompletionOption.ResponseContentRead, ct).ConfigureAwait(false);
        var stream = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        return await JsonSerializer.DeserializeAsync(stream, type, ct).ConfigureAwait(false)
            ?? throw new StrataApiException(ErrorKind.Internal, (int)response.StatusCode, "the daemon sent an empty response", null);
    }

    private async IAsyncEnumerable<StreamFrame> StreamAsync(HttpMethod method, string path, HttpContent? content, [EnumeratorCancellation] CancellationToken ct)
    {
        await foreach (var line in LinesAsync(method, path, content, ct).ConfigureAwait(false))
        {
            yield return JsonSerializer.Deserialize(line, StrataJsonContext.Default.StreamFrame)!;
        }
    }

    /// <summary>The non-empty lines of an NDJSON stream, as they arrive.</summary>
    private async IAsyncEnumerable<string> LinesAsync(HttpMethod method, string path, HttpContent? content, [EnumeratorCancellation] CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        using var response = await SendRawAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false), Encoding.UTF8);
        while (await reader.ReadLineAsync(ct).ConfigureAwait(false) is { } line)
        {
            if (line.Length > 0)
            {
                yield return line;
            }
        }
    }

    private async Task<HttpResponseMessage> SendRawAsync(HttpRequestMessage request, HttpCompletionOption completion, CancellationToken ct)
    {
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, completion, ct).ConfigureAwait(false);
        }
        catch (HttpRequestException e) when (e.InnerException is SocketException or IOException || e.HttpRequestError == HttpRequestError.ConnectionError)
        {
            throw new DaemonUnreachableException(_options.Host is null
                ? $"cannot reach the Strata daemon at {_options.Socket} ({e.InnerException?.Message ?? e.Message}); start it with 'strata daemon' (or 'sudo strata daemon'), or point STRATA_SOCKET / --socket at its socket"
                : $"cannot reach the Strata daemon at {_options.Host} ({e.InnerException?.Message ?? e.Message}); is stratad running with --listen?", e);
        }
        if (response.IsSuccessStatusCode)
        {
            return response;
        }
        using (response)
        {
            var body = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
            ProblemDetails? problem = null;
            try
            {
                problem = JsonSerializer.Deserialize(body, StrataJsonContext.Default.ProblemDetails);
            }
            catch (JsonException)
            {
            }
            var kind = response.StatusCode switch
            {
                HttpStatusCode.BadRequest => ErrorKind.InvalidArgument,
                HttpStatusCode.Unauthorized => ErrorKind.Unauthorized,
                HttpStatusCode.Forbidden => ErrorKind.Forbidden,
                HttpStatusCode.NotFound => ErrorKind.NotFound,
                HttpStatusCode.Conflict => ErrorKind.Conflict,
                HttpStatusCode.ServiceUnavailable => ErrorKind.Unavailable,
                (HttpStatusCode)499 => ErrorKind.Cancelled,
                _ => ErrorKind.Internal,
            };
            throw new StrataApiException(kind, (int)response.StatusCode, problem?.Detail ?? $"HTTP {(int)response.StatusCode}: {body}", problem?.Field);
        }
    }

    public void Dispose() => _http.Dispose();
}
