using System.Collections.Frozen;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Net.Http.Headers;
using Strata.Contracts;

namespace Strata.Daemon.Api;

/// <summary>
/// The web dashboard at <c>/ui</c> (docs/dashboard.md): a page, a script and a stylesheet bundled at build time and
/// embedded in stratad. They hold no data and are served to anyone who reaches the listener; everything they show
/// comes from the API with the signed-in token, under the same authorisation as any client.
/// Browsers cannot put a bearer token on a WebSocket request, so for WebSocket upgrades only, sent from the daemon's
/// own origin, the <c>strata-token</c> cookie (SameSite=Strict, path /v1/) stands in for the Authorization header.
/// </summary>
public static class DashboardEndpoints
{
    public const string TokenCookie = "strata-token";

    private const string Policy = "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        + "script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

    private static readonly Lazy<FrozenDictionary<string, Asset>> Assets = new(LoadAssets);

    private sealed record Asset(byte[] Bytes, string ContentType, string ETag);

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/v1/info/caller", (HttpContext http) =>
        {
            var caller = Caller.Of(http);
            return Results.Bytes(CallerJson(caller), "application/json");
        }).WithTags("system").WithSummary("Who the request's token is: {project, role, hostAdmin}. The dashboard offers only what the role may do.");
    }

    /// <summary>Runs before authentication: serves /ui itself, and lets a same-origin WebSocket upgrade authenticate by cookie.</summary>
    public static async Task Middleware(HttpContext context, RequestDelegate next)
    {
        if (context.Request.Path.StartsWithSegments("/ui", out var rest))
        {
            await ServeAsync(context, rest.Value ?? "").ConfigureAwait(false);
            return;
        }
        AcceptTokenCookie(context);
        await next(context).ConfigureAwait(false);
    }

    private static async Task ServeAsync(HttpContext context, string rest)
    {
        var request = context.Request;
        if (!HttpMethods.IsGet(request.Method) && !HttpMethods.IsHead(request.Method))
        {
            throw new StrataException(ErrorKind.InvalidArgument, $"{request.Method} {request.Path}: the dashboard's files are read with GET", "method");
        }
        if (rest.Length == 0)
        {
            context.Response.Redirect("/ui/" + request.QueryString, permanent: false);
            return;
        }
        var name = rest == "/" ? "index.html" : rest.TrimStart('/');
        if (!Assets.Value.TryGetValue(name, out var asset))
        {
            throw StrataException.NotFound($"the dashboard has no file '{name}'; open /ui/");
        }
        var response = context.Response;
        response.Headers.ContentSecurityPolicy = Policy;
        response.Headers.XContentTypeOptions = "nosniff";
        response.Headers.XFrameOptions = "DENY";
        response.Headers["Referrer-Policy"] = "no-referrer";
        response.Headers.CacheControl = "no-cache";
        response.Headers.ETag = asset.ETag;
        if (request.Headers.IfNoneMatch.ToString() == asset.ETag)
        {
            response.StatusCode = StatusCodes.Status304NotModified;
            return;
        }
        response.ContentType = asset.ContentType;
        response.ContentLength = asset.Bytes.Length;
        if (HttpMethods.IsGet(request.Method))
        {
            await response.Body.WriteAsync(asset.Bytes, context.RequestAborted).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// A WebSocket upgrade without an Authorization header, from a page of this daemon's own origin, may carry the
    /// token in the dashboard's cookie. Cross-site pages cannot: the cookie is SameSite=Strict and the Origin must match.
    /// </summary>
    private static void AcceptTokenCookie(HttpContext context)
    {
        var request = context.Request;
        if (!HttpMethods.IsGet(request.Method)
            || !string.Equals(request.Headers.Upgrade.ToString(), "websocket", StringComparison.OrdinalIgnoreCase)
            || request.Headers.Authorization.Count > 0
            || !request.Cookies.TryGetValue(TokenCookie, out var token) || string.IsNullOrWhiteSpace(token)
            || !SameOrigin(request))
        {
            return;
        }
        request.Headers.Authorization = "Bearer " + token;
    }

    private static bool SameOrigin(HttpRequest request) =>
        Uri.TryCreate(request.Headers.Origin.ToString(), UriKind.Absolute, out var origin)
        && string.Equals(origin.Scheme, request.Scheme, StringComparison.OrdinalIgnoreCase)
        && string.Equals(origin.Authority, request.Host.Value, StringComparison.OrdinalIgnoreCase);

    private static byte[] CallerJson(Caller caller)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("project", caller.Project);
            json.WriteString("role", caller.Role);
            json.WriteBoolean("hostAdmin", caller.IsHostAdmin);
            json.WriteEndObject();
        }
        return buffer.ToArray();
    }

    private static FrozenDictionary<string, Asset> LoadAssets()
    {
        var assembly = typeof(DashboardEndpoints).Assembly;
        var assets = new Dictionary<string, Asset>(StringComparer.Ordinal);
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith("ui/", StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            var bytes = copy.ToArray();
            var name = resource["ui/".Length..];
            assets[name] = new Asset(bytes, ContentType(name), $"\"{Convert.ToHexStringLower(SHA256.HashData(bytes))[..16]}\"");
        }
        return assets.ToFrozenDictionary(StringComparer.Ordinal);
    }

    private static string ContentType(string name) => Path.GetExtension(name) switch
    {
        ".html" => "text/html; charset=utf-8",
        ".js" => "text/javascript; charset=utf-8",
        ".css" => "text/css; charset=utf-8",
        ".svg" => "image/svg+xml",
        _ => "application/octet-stream",
    };
}
