using System.Net;
using System.Net.Http.Headers;
using System.Security.Authentication;
using System.Text;
using System.Text.Json;
using Strata.Contracts;
using Strata.Images.Oci;

namespace Strata.Images.Registry;

/// <summary>
/// A minimal OCI distribution v2 client for one registry: manifests, blobs, monolithic push, and the
/// Docker token flow (401 + <c>WWW-Authenticate: Bearer realm,service,scope</c> → token endpoint → retry).
/// </summary>
internal sealed class RegistryClient : IDisposable
{
    private const int MaxManifestBytes = 4 << 20;
    private readonly string _registry;
    private readonly RegistryOptions _options;
    private readonly HttpClient _http;
    private readonly Uri _base;
    private readonly Dictionary<string, string> _tokens = new(StringComparer.Ordinal);
    private string? _authorization;

    public RegistryClient(string registry, RegistryOptions options)
    {
        _registry = registry;
        _options = options;
        var scheme = options.IsInsecure(registry) ? "http" : "https";
        // docker.io is the name; the API lives on registry-1.docker.io.
        var host = registry == ImageReference.DefaultRegistry ? "registry-1.docker.io" : registry;
        _base = new Uri($"{scheme}://{host}/");
        _http = options.HttpHandler is { } handler
            ? new HttpClient(handler, disposeHandler: false)
            : new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = true, AutomaticDecompression = DecompressionMethods.None });
        _http.Timeout = options.RequestTimeout;
        if (options.BearerToken is { } token)
        {
            _authorization = "Bearer " + token;
        }
    }

    public void Dispose() => _http.Dispose();

    public async Task<(byte[] Bytes, string MediaType, Digest Digest)> GetManifestAsync(string repository, string reference, CancellationToken ct)
    {
        using var response = await SendAsync(() =>
        {
            var request = new HttpRequestMessage(HttpMethod.Get, new Uri(_base, $"v2/{repository}/manifests/{reference}"));
            foreach (var type in MediaTypes.ManifestAccept)
            {
                request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(type));
            }
            return request;
        }, repository, "pull", ct).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            throw StrataException.NotFound($"manifest {repository}:{reference} was not found in registry {_registry}; check the image name and tag");
        }
        await EnsureSuccessAsync(response, $"fetching manifest {repository}:{reference}", ct).ConfigureAwait(false);
        if (response.Content.Headers.ContentLength > MaxManifestBytes)
        {
            throw new StrataException(ErrorKind.InvalidArgument, $"manifest {repository}:{reference} from {_registry} is larger than {MaxManifestBytes} bytes; refusing it");
        }
        var bytes = await response.Content.ReadAsByteArrayAsync(ct).ConfigureAwait(false);
        var digest = Digest.Compute(bytes);
        if (Digest.TryParse(reference, out var wanted) && wanted != digest)
        {
            throw new StrataException(ErrorKind.InvalidArgument,
                $"registry {_registry} sent a manifest for {repository}@{wanted} whose bytes hash to {digest}; refused");
        }
        var mediaType = response.Content.Headers.ContentType?.MediaType ?? "";
        return (bytes, mediaType, digest);
    }

    /// <summary>Opens a blob for reading; the caller verifies the digest while storing it.</summary>
    public async Task<(Stream Body, long? Length, IDisposable Response)> GetBlobAsync(string repository, Digest digest, CancellationToken ct)
    {
        var response = await SendAsync(() => new HttpRequestMessage(HttpMethod.Get, new Uri(_base, $"v2/{repository}/blobs/{digest}")),
            repository, "pull", ct, HttpCompletionOption.ResponseHeadersRead).ConfigureAwait(false);
        try
        {
            if (response.StatusCode == HttpStatusCode.NotFound)
            {
                throw StrataException.NotFound($"blob {digest} of {repository} was not found in registry {_registry}");
            }
            await EnsureSuccessAsync(response, $"fetching blob {digest}", ct).ConfigureAwait(false);
            var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
            return (body, response.Content.Headers.ContentLength, response);
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    public async Task<bool> BlobExistsAsync(string repository, Digest digest, CancellationToken ct)
    {
        using var response = await SendAsync(() => new HttpRequestMessage(HttpMethod.Head, new Uri(_base, $"v2/{repository}/blobs/{digest}")),
            repository, "pull,push", ct).ConfigureAwait(false);
        return response.StatusCode == HttpStatusCode.OK;
    }

    /// <summary>Monolithic upload: POST an upload session, then PUT the bytes with <c>?digest=</c>.</summary>
    public async Task PushBlobAsync(string repository, Digest digest, Func<Stream> open, long size, CancellationToken ct)
    {
        Uri location;
        using (var start = await SendAsync(() => new HttpRequestMessage(HttpMethod.Post, new Uri(_base, $"v2/{repository}/blobs/uploads/")),
                   repository, "pull,push", ct).ConfigureAwait(false))
        {
            await EnsureSuccessAsync(start, $"starting the upload of {digest}", ct).ConfigureAwait(false);
            location = start.Headers.Location is { } l
                ? (l.IsAbsoluteUri ? l : new Uri(_base, l))
                : throw new StrataException(ErrorKind.Internal, $"registry {_registry} started an upload without a Location header");
        }
        var put = new UriBuilder(location);
        put.Query = (put.Query.Length > 1 ? put.Query[1..] + "&" : "") + "digest=" + Uri.EscapeDataString(digest.ToString());
        using var response = await SendAsync(() =>
        {
            var content = new StreamContent(open());
            content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            content.Headers.ContentLength = size;
            return new HttpRequestMessage(HttpMethod.Put, put.Uri) { Content = content };
        }, repository, "pull,push", ct).ConfigureAwait(false);
        await EnsureSuccessAsync(response, $"uploading blob {digest}", ct).ConfigureAwait(false);
    }

    public async Task PutManifestAsync(string repository, string reference, byte[] manifest, string mediaType, CancellationToken ct)
    {
        using var response = await SendAsync(() =>
        {
            var content = new ByteArrayContent(manifest);
            content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
            return new HttpRequestMessage(HttpMethod.Put, new Uri(_base, $"v2/{repository}/manifests/{reference}")) { Content = content };
        }, repository, "pull,push", ct).ConfigureAwait(false);
        await EnsureSuccessAsync(response, $"putting manifest {repository}:{reference}", ct).ConfigureAwait(false);
    }

    private async Task<HttpResponseMessage> SendAsync(Func<HttpRequestMessage> make, string repository, string actions, CancellationToken ct,
        HttpCompletionOption completion = HttpCompletionOption.ResponseContentRead)
    {
        var response = await SendOnceAsync(make, completion, ct).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.Unauthorized)
        {
            return response;
        }
        var challenge = response.Headers.WwwAuthenticate.FirstOrDefault();
        var body = await ReadErrorAsync(response, ct).ConfigureAwait(false);
        response.Dispose();
        var presented = _authorization;
        if (challenge is null)
        {
            throw Refused(repository, $"401 without a WWW-Authenticate challenge: {body}");
        }
        if (challenge.Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase))
        {
            var parameters = ParseChallenge(challenge.Parameter ?? "");
            var scope = parameters.GetValueOrDefault("scope") ?? $"repository:{repository}:{actions}";
            // A 401 for a scope whose token we already presented means the token itself was refused.
            if (_tokens.TryGetValue(scope, out var known) && presented == "Bearer " + known || (_options.BearerToken is not null && presented is not null))
            {
                throw Refused(repository, $"the bearer token was rejected: {body}");
            }
            var token = await FetchTokenAsync(parameters, scope, repository, ct).ConfigureAwait(false);
            _tokens[scope] = token;
            _authorization = "Bearer " + token;
        }
        else if (challenge.Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase))
        {
            if (_options.Username is null)
            {
                throw new StrataException(ErrorKind.Unauthorized,
                    $"registry {_registry} requires credentials for {repository}; pass --username/--password");
            }
            var basic = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{_options.Username}:{_options.Password}"));
            if (presented == basic)
            {
                throw Refused(repository, body);
            }
            _authorization = basic;
        }
        else
        {
            throw Refused(repository, $"unsupported authentication scheme '{challenge.Scheme}'");
        }

        response = await SendOnceAsync(make, completion, ct).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.Unauthorized)
        {
            var again = await ReadErrorAsync(response, ct).ConfigureAwait(false);
            response.Dispose();
            throw Refused(repository, again);
        }
        return response;
    }

    private async Task<HttpResponseMessage> SendOnceAsync(Func<HttpRequestMessage> make, HttpCompletionOption completion, CancellationToken ct)
    {
        using var request = make();
        if (_authorization is { } auth)
        {
            request.Headers.TryAddWithoutValidation("Authorization", auth);
        }
        try
        {
            return await _http.SendAsync(request, completion, ct).ConfigureAwait(false);
        }
        catch (HttpRequestException e) when (_base.Scheme == "https" && (e.InnerException is AuthenticationException || e.HttpRequestError == HttpRequestError.SecureConnectionError))
        {
            throw new StrataException(ErrorKind.Unavailable,
                $"registry {_registry} did not complete an HTTPS handshake ({e.Message}). If it is a plain-HTTP registry you trust, " +
                $"mark it insecure (--insecure-registry {_registry}, or RegistryOptions.InsecureRegistries); plain HTTP is never used otherwise",
                inner: e);
        }
        catch (HttpRequestException e)
        {
            throw new StrataException(ErrorKind.Unavailable, $"cannot reach registry {_registry} at {_base}: {e.Message}", inner: e);
        }
        catch (TaskCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw new StrataException(ErrorKind.Unavailable, $"registry {_registry} did not answer within {_http.Timeout}", inner: e);
        }
    }

    private async Task<string> FetchTokenAsync(Dictionary<string, string> challenge, string scope, string repository, CancellationToken ct)
    {
        if (!challenge.TryGetValue("realm", out var realm) || !Uri.TryCreate(realm, UriKind.Absolute, out var realmUri) ||
            realmUri.Scheme is not ("http" or "https"))
        {
            throw Refused(repository, "its Bearer challenge has no usable realm");
        }
        var query = new StringBuilder();
        if (challenge.TryGetValue("service", out var service))
        {
            query.Append("service=").Append(Uri.EscapeDataString(service));
        }
        foreach (var s in scope.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            query.Append(query.Length > 0 ? "&" : "").Append("scope=").Append(Uri.EscapeDataString(s));
        }
        var builder = new UriBuilder(realmUri) { Query = query.ToString() };
        using var request = new HttpRequestMessage(HttpMethod.Get, builder.Uri);
        if (_options.Username is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic",
                Convert.ToBase64String(Encoding.UTF8.GetBytes($"{_options.Username}:{_options.Password}")));
        }
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, ct).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw new StrataException(ErrorKind.Unavailable, $"cannot reach the token service {realmUri.GetLeftPart(UriPartial.Path)} of registry {_registry}: {e.Message}", inner: e);
        }
        using (response)
        {
            if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
            {
                throw Refused(repository, $"the token service answered {(int)response.StatusCode}: {await ReadErrorAsync(response, ct).ConfigureAwait(false)}");
            }
            await EnsureSuccessAsync(response, "fetching a token", ct).ConfigureAwait(false);
            var parsed = JsonSerializer.Deserialize(await response.Content.ReadAsByteArrayAsync(ct).ConfigureAwait(false), OciJsonContext.Default.TokenResponse);
            return parsed?.Token ?? parsed?.AccessToken
                ?? throw Refused(repository, "the token service answered without a token");
        }
    }

    private StrataException Refused(string repository, string detail) =>
        new(ErrorKind.Unauthorized,
            $"registry {_registry} refused the credentials for {repository}: {detail}; check --username/--password or the token");

    private async Task EnsureSuccessAsync(HttpResponseMessage response, string doing, CancellationToken ct)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }
        var body = await ReadErrorAsync(response, ct).ConfigureAwait(false);
        var kind = response.StatusCode switch
        {
            HttpStatusCode.Forbidden => ErrorKind.Forbidden,
            HttpStatusCode.NotFound => ErrorKind.NotFound,
            HttpStatusCode.TooManyRequests or HttpStatusCode.ServiceUnavailable => ErrorKind.Unavailable,
            _ => ErrorKind.Internal,
        };
        throw new StrataException(kind, $"registry {_registry} answered {(int)response.StatusCode} {response.ReasonPhrase} while {doing}: {body}");
    }

    private static async Task<string> ReadErrorAsync(HttpResponseMessage response, CancellationToken ct)
    {
        try
        {
            var text = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
            text = text.Trim();
            return text.Length == 0 ? $"HTTP {(int)response.StatusCode}" : text.Length > 300 ? text[..300] + "…" : text;
        }
        catch (HttpRequestException)
        {
            return $"HTTP {(int)response.StatusCode}";
        }
    }

    /// <summary>Parses <c>realm="...",service="...",scope="..."</c> (quoted values may hold commas).</summary>
    internal static Dictionary<string, string> ParseChallenge(string parameter)
    {
        var result = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var i = 0;
        while (i < parameter.Length)
        {
            while (i < parameter.Length && (parameter[i] == ',' || char.IsWhiteSpace(parameter[i])))
            {
                i++;
            }
            var eq = parameter.IndexOf('=', i);
            if (eq < 0)
            {
                break;
            }
            var key = parameter[i..eq].Trim();
            i = eq + 1;
            string value;
            if (i < parameter.Length && parameter[i] == '"')
            {
                var end = parameter.IndexOf('"', i + 1);
                end = end < 0 ? parameter.Length : end;
                value = parameter[(i + 1)..end];
                i = end + 1;
            }
            else
            {
                var end = parameter.IndexOf(',', i);
                end = end < 0 ? parameter.Length : end;
                value = parameter[i..end].Trim();
                i = end;
            }
            result[key] = value;
        }
        return result;
    }
}
