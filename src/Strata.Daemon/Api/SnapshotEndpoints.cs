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
            .Produces<InstanceInfo>().WithSummary("Start the (not running) instance again from the snapshot; a running VM is put back to the snapshot in place, without a reboot.");

        app.MapPost("/v1/instances/{name}/resize", async (string name, HttpContext http, InstanceService service) =>
        {
            ResizeRequest? request;
            try
            {
                request = await JsonSerializer.DeserializeAsync(http.Request.Body, StrataJsonContext.Default.ResizeRequest, http.RequestAborted);
            }
            catch (JsonException e)
            {
                throw new StrataException(ErrorKind.InvalidArgument, $"body: {e.Message}");
            }
            var r = await service.ResizeAsync(InstanceEndpoints.Project(http), name, request?.MemoryBytes, request?.Cpus, http.RequestAborted);
            return Results.Json(new ResizeResponse { MemoryBytes = r.MemoryBytes, MaxMemoryBytes = r.MaxMemoryBytes, Cpus = r.Cpus, MaxCpus = r.MaxCpus, Note = r.Note },
                StrataJsonContext.Default.ResizeResponse);
        }).WithTags("instances").Accepts<ResizeRequest>("application/json").Produces<ResizeResponse>()
          .WithSummary("Change a running instance's memory (vm: balloon, up to its boot size) and vCPUs (vm: hot-add up to its maximum).");

        group.MapDelete("/{snapshot}", async (string name, string snapshot, HttpContext http, InstanceService service) =>
        {
            await service.DeleteSnapshotAsync(InstanceEndpoints.Project(http), name, snapshot, http.RequestAborted);
            return Results.NoContent();
        }).WithSummary("Remove a snapshot.");
    }
}
