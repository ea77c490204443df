using System.Text.Json;
using Strata.Contracts;
using Strata.Control;

namespace Strata.Daemon.Api;

/// <summary>REST endpoints under <c>/v1/instances/{name}/snapshots</c> (tiers that support snapshots).</summary>
public static class SnapshotEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/instances/{name}/snapshots").WithTags("snapshots");

        group.MapPost("/", async (string name, HttpContext http, InstanceService service) =>
        {
            CreateSnapshotRequest? request = null;
            if (http.Request.ContentLength is > 0 || http.Request.Headers.TransferEncoding.Count > 0)
            {
                try
                {
                    request = await JsonSerializer.DeserializeAsync(http.Request.Body, StrataJsonContext.Default.CreateSnapshotRequest, http.RequestAborted);
                }
                catch (JsonException e)
                {
                    throw new StrataException(ErrorKind.InvalidArgument, $"body: {e.Message}");
                }
            }
            var info = await service.CreateSnapshotAsync(InstanceEndpoints.Project(http), name, request?.Name, http.RequestAborted);
            return Results.Json(info, StrataJsonContext.Default.SnapshotInfo, statusCode: StatusCodes.Status201Created);
        }).Accepts<CreateSnapshotRequest>("application/json").Produces<SnapshotInfo>(StatusCodes.Status201Created)
          .WithSummary("Snapshot the instance (wasm: a running stepped module's memory and globals). 409 with the reason when its state cannot be captured.");

        group.MapGet("/", (string name, HttpContext http, InstanceService service) =>
            Results.Json(new SnapshotList(service.ListSnapshots(InstanceEndpoints.Project(http), name)), StrataJsonContext.Default.SnapshotList))
            .Produces<SnapshotList>().WithSummary("List the instance's snapshots, oldest first.");

        group.MapPost("/{snapshot}/restore", async (string name, string snapshot, HttpContext http, InstanceService service) =>
            Results.Json(InstanceEndpoints.ToInfo(await service.RestoreSnapshotAsync(InstanceEndpoints.Project(http), name, snapshot, http.RequestAborted)), StrataJsonContext.Default.InstanceInfo))
            .Produces<InstanceInfo>().WithSummary("Start the (not running) instance again from the snapshot.");

        group.MapDelete("/{snapshot}", async (string name, string snapshot, HttpContext http, InstanceService service) =>
        {
            await service.DeleteSnapshotAsync(InstanceEndpoints.Project(http), name, snapshot, http.RequestAborted);
            return Results.NoContent();
        }).WithSummary("Remove a snapshot.");
    }
}
