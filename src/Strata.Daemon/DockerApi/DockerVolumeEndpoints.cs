using Strata.Contracts;
using Strata.Control;
using static Strata.Daemon.DockerApi.DockerApiHost;

namespace Strata.Daemon.DockerApi;

/// <summary>Named volumes of the project (<see cref="DockerVolumes"/>): create, list, inspect, remove.</summary>
internal static class DockerVolumeEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapPost("/volumes/create", async (HttpContext http, DockerVolumes volumes) =>
        {
            var request = await ReadAsync(http, DockerJsonContext.Default.DockerVolumeCreate) ?? new DockerVolumeCreate();
            if (request.Driver is { Length: > 0 } driver && driver != "local")
            {
                throw StrataException.Invalid("Driver", $"'{driver}': Strata volumes are directories it manages (the local driver)");
            }
            if (request.DriverOpts is { Count: > 0 } options)
            {
                throw StrataException.Invalid($"DriverOpts.{options.Keys.First()}", "volume driver options are not supported by Strata");
            }
            if (request.ClusterVolumeSpec is { ValueKind: not System.Text.Json.JsonValueKind.Null })
            {
                throw StrataException.Invalid("ClusterVolumeSpec", "cluster volumes are not supported by Strata");
            }
            var name = string.IsNullOrEmpty(request.Name) ? Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)) : request.Name;
            var volume = volumes.Create(Project(http), name, request.Labels);
            return Json(volume, DockerJsonContext.Default.DockerVolume, StatusCodes.Status201Created);
        });
        app.MapGet("/volumes", (HttpContext http, DockerVolumes volumes) =>
        {
            var filters = DockerFilters.Parse(http.Request.Query["filters"]);
            filters.Only("name", "label", "driver", "dangling");
            var list = volumes.List(Project(http))
                .Where(v => filters.Matches("name", n => v.Name.Contains(n, StringComparison.Ordinal)))
                .Where(v => filters.MatchesAll("label", l => DockerFilters.LabelMatches(v.Labels, l)))
                .Where(v => filters.Matches("driver", d => d == "local"))
                .ToList();
            return Json(new DockerVolumeList(list, []), DockerJsonContext.Default.DockerVolumeList);
        });
        app.MapGet("/volumes/{name}", (string name, HttpContext http, DockerVolumes volumes) =>
            Json(volumes.Get(Project(http), name), DockerJsonContext.Default.DockerVolume));
        app.MapDelete("/volumes/{name}", (string name, HttpContext http, DockerVolumes volumes, InstanceService service) =>
        {
            var project = Project(http);
            volumes.Remove(project, name, service.List(project), Flag(http, "force"));
            return Results.NoContent();
        });
        app.MapPost("/volumes/prune", () => DockerContainerEndpoints.NotSupported("volume prune"));
    }
}
