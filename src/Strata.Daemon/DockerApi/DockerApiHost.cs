using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Strata.Contracts;
using Strata.Daemon.Api;

namespace Strata.Daemon.DockerApi;

/// <summary>
/// The Docker Engine API beside Strata's own: its sockets, its routes (versioned <c>/v1.NN/...</c> and unversioned),
/// and its error shape (<c>{"message": "..."}</c>). Requests on a docker socket never reach Strata's routes, and
/// Strata's sockets never reach these.
/// </summary>
public static partial class DockerApiHost
{
    /// <summary>The API version Strata speaks; clients negotiate down from theirs to it.</summary>
    public const string ApiVersion = "1.43";
    public const string MinApiVersion = "1.24";

    private const string ProjectItem = "strata.docker.project";

    [GeneratedRegex(@"^/v[0-9]+\.[0-9]+(?=/|$)")]
    private static partial Regex VersionPrefix();

    public static void Listen(KestrelServerOptions kestrel, DaemonOptions options)
    {
        foreach (var socket in options.DockerSockets)
        {
            kestrel.ListenUnixSocket(socket.Path, listen =>
            {
                listen.Protocols = HttpProtocols.Http1;
                listen.Use(next => connection =>
                {
                    connection.Items[ProjectItem] = socket.Project;
                    return UpgradeRequestBodies.RunAsync(connection, next);
                });
            });
        }
    }

    public static IServiceCollection AddDockerApi(this IServiceCollection services, DaemonOptions options)
    {
        services.AddSingleton(new DockerVolumes(options.Root));
        services.AddSingleton<DockerExecs>();
        services.AddSingleton<DockerRunTraces>();
        services.AddSingleton(new DockerNetworkNames(options.Root));
        return services;
    }

    /// <summary>Branches every request of a docker socket into the Docker routes, before Strata's own middleware.</summary>
    public static void MapDockerApi(this IApplicationBuilder app)
    {
        app.MapWhen(http => ProjectOf(http) is not null, docker =>
        {
            docker.Use(HandleAsync);
            docker.UseRouting();
            docker.UseEndpoints(routes =>
            {
                DockerSystemEndpoints.Map(routes);
                DockerContainerEndpoints.Map(routes);
                DockerStreamEndpoints.Map(routes);
                DockerExecEndpoints.Map(routes);
                DockerArchiveEndpoints.Map(routes);
                DockerImageEndpoints.Map(routes);
                DockerNetworkEndpoints.Map(routes);
                DockerVolumeEndpoints.Map(routes);
                routes.Map("/{**path}", (HttpContext http) =>
                    throw StrataException.NotFound($"page not found: {http.Request.Method} {http.Request.Path} is not part of the Docker API Strata serves (docs/docker-api.md)"));
            });
        });
    }

    internal static string? ProjectOf(HttpContext http) =>
        http.Features.Get<IConnectionItemsFeature>()?.Items is { } items && items.TryGetValue(ProjectItem, out var p) ? p as string : null;

    /// <summary>The project of the socket the request came on; it must exist (it may have been removed since start).</summary>
    internal static string Project(HttpContext http)
    {
        var project = ProjectOf(http)!;
        return http.RequestServices.GetRequiredService<Control.Projects.ProjectService>().Find(project) is null
            ? throw StrataException.NotFound($"project '{project}' of this docker socket does not exist; create it ('strata project create {project}') or restart stratad without it")
            : project;
    }

    private static async Task HandleAsync(HttpContext http, RequestDelegate next)
    {
        // Strata's routing ran first and may have matched a route of its own by path: not on this socket.
        http.SetEndpoint(null);
        http.Request.RouteValues.Clear();
        var path = http.Request.Path.Value ?? "/";
        if (VersionPrefix().Match(path) is { Success: true } version)
        {
            http.Request.Path = path[version.Length..] is { Length: > 0 } rest ? rest : "/";
        }
        http.Items[typeof(Caller)] = new Caller(ProjectOf(http)!, ProjectRoles.Admin, IsHostAdmin: false, TokenId: null);
        http.Response.Headers["Api-Version"] = ApiVersion;
        http.Response.Headers["Docker-Experimental"] = "false";
        http.Response.Headers["Ostype"] = "linux";
        http.Response.Headers["Server"] = $"Strata/{DockerSystemEndpoints.StrataVersion} (linux)";
        try
        {
            await next(http).ConfigureAwait(false);
        }
        catch (Exception e) when (!http.Response.HasStarted)
        {
            var error = ProblemMapping.Classify(e);
            http.Response.Clear();
            http.Response.StatusCode = ProblemMapping.Status(error.Kind) switch
            {
                499 => 400,
                var s => s,
            };
            http.Response.ContentType = "application/json";
            await JsonSerializer.SerializeAsync(http.Response.Body, new DockerError(error.Message), DockerJsonContext.Default.DockerError).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            // The client went away in the middle of a stream: nothing to answer.
        }
    }

    /// <summary>Reads a JSON body (or the body taken off an upgrade request); an empty body is null.</summary>
    internal static async Task<JsonElement?> ReadJsonAsync(HttpContext http)
    {
        byte[]? bytes = UpgradeRequestBodies.Take(http);
        if (bytes is null)
        {
            using var buffer = new MemoryStream();
            await http.Request.Body.CopyToAsync(buffer, http.RequestAborted).ConfigureAwait(false);
            bytes = buffer.ToArray();
        }
        if (bytes.Length == 0 || bytes.All(b => b is (byte)' ' or (byte)'\n' or (byte)'\r' or (byte)'\t'))
        {
            return null;
        }
        try
        {
            using var doc = JsonDocument.Parse(bytes);
            return doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw StrataException.Invalid("body", $"malformed JSON: {e.Message}");
        }
    }

    internal static async Task<T?> ReadAsync<T>(HttpContext http, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type) where T : class
    {
        if (await ReadJsonAsync(http).ConfigureAwait(false) is not { } json)
        {
            return null;
        }
        try
        {
            return json.Deserialize(type);
        }
        catch (JsonException e)
        {
            throw StrataException.Invalid(e.Path is { Length: > 1 } p ? p.TrimStart('$', '.') : "body", $"invalid value: {e.Message}");
        }
    }

    internal static IResult Json<T>(T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, int status = 200) =>
        Results.Json(value, type, contentType: "application/json", statusCode: status);

    internal static bool Flag(HttpContext http, string name) =>
        http.Request.Query[name].ToString() is { Length: > 0 } v && v is not ("0" or "false" or "False");

    /// <summary>A terminal's width or height (<c>w</c>, <c>h</c> of the resize endpoints).</summary>
    internal static ushort Dimension(HttpContext http, string name) =>
        ushort.TryParse(http.Request.Query[name], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var v) ? v
        : throw StrataException.Invalid(name, $"'{http.Request.Query[name]}' is not a terminal size (0-65535)");
}
