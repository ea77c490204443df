using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Control;
using Strata.Control.Operations;
using Strata.Daemon.Move;

namespace Strata.Daemon.Api;

/// <summary>
/// Cold moves (docs/move.md): <c>POST /v1/instances/{name}/move</c> with mode <c>cold</c> (or no mode, on a tier
/// that cannot move live) runs one as an operation; <c>POST /v1/instances/{name}/move-in</c> is the switch the
/// source daemon calls on the target, with a token the target accepts for the same project.
/// </summary>
public static class ColdMoveEndpoints
{
    /// <summary>
    /// <c>live</c> or <c>cold</c> for this instance: what was asked, or live where the tier can and cold otherwise.
    /// Live on a tier that cannot is refused with the tier's reason (for a container, why CRIU is unavailable).
    /// </summary>
    public static string ChooseMode(InstanceService service, string project, string name, string? asked)
    {
        var whyNotLive = service.WhyNotLive(project, name); // 404 for another project's instance
        switch (asked)
        {
            case "live":
                return whyNotLive is null ? "live" : throw StrataException.Invalid("mode", whyNotLive);
            case "cold":
                service.EnsureColdMovable(project, name);
                return "cold";
            case null or "":
                if (whyNotLive is null)
                {
                    return "live";
                }
                service.EnsureColdMovable(project, name);
                return "cold";
            default:
                throw StrataException.Invalid("mode", $"'{asked}' is not a move mode; use live or cold (or leave it out: live where the tier can, else cold)");
        }
    }

    public static IResult Start(InstanceService service, OperationRegistry operations, string project, string name, Uri address, string token)
    {
        var operation = operations.Start("move", name, project, async (op, ct) =>
        {
            using var destination = new RemoteMoveDestination(address, token, project);
            op.SetMessage($"cold, to {destination.Name}");
            var result = await service.ColdMoveOutAsync(project, name, destination, new StepReporter(op), ct).ConfigureAwait(false);
            return JsonSerializer.SerializeToElement(result, StrataJsonContext.Default.MoveResult);
        });
        return Results.Json(operation.ToInfo(), StrataJsonContext.Default.OperationInfo, statusCode: StatusCodes.Status202Accepted);
    }

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/instances/{name}/move-in", async (string name, bool? start, bool? state, HttpContext http, InstanceService service) =>
        {
            if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            {
                limit.MaxRequestBodySize = null; // a container's writable layer; the target's disk is the limit
            }
            var record = await service.MoveInAsync(InstanceEndpoints.Project(http), name, state == true ? http.Request.Body : null, start ?? true, http.RequestAborted);
            return Results.Json(InstanceEndpoints.ToInfo(record), StrataJsonContext.Default.InstanceInfo);
        }).WithTags("instances").Accepts<Stream>("application/x-tar").Produces<InstanceInfo>()
            .WithSummary("Daemon to daemon, the switch of a cold move: the instance created for it (not started) takes the captured state (a tar, ?state=true) and starts (?start=true) or keeps it in place.");
        app.MapPost("/v1/volumes/{volume}/move-in", async (string volume, string digest, bool? check, string? labels, HttpContext http, DockerApi.DockerVolumes volumes) =>
        {
            var project = InstanceEndpoints.Project(http);
            if (check == true)
            {
                return Results.Json(volumes.CheckMoveIn(project, volume, digest), StrataJsonContext.Default.VolumeArrival);
            }
            if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            {
                limit.MaxRequestBodySize = null; // a volume's files; the target's disk is the limit
            }
            var arrival = await volumes.MoveInAsync(project, volume, http.Request.Body, digest, ParseLabels(labels), http.RequestAborted);
            return Results.Json(arrival, StrataJsonContext.Default.VolumeArrival);
        }).WithTags("instances").Accepts<Stream>("application/x-tar").Produces<VolumeArrival>()
            .WithSummary("Daemon to daemon, a cold move carrying a managed volume: ?check=true refuses (409) a volume of that name with other content; otherwise the packed files (a tar) become the project's volume here, with its Docker labels (?labels=, a JSON object).");
        app.MapDelete("/v1/volumes/{volume}/move-in", (string volume, HttpContext http, DockerApi.DockerVolumes volumes, InstanceService service) =>
        {
            var project = InstanceEndpoints.Project(http);
            volumes.Remove(project, volume, service.List(project), force: false);
            return Results.NoContent();
        }).WithTags("instances")
            .WithSummary("Daemon to daemon, the undo of a cold move's volume: removes the volume it created unless an instance mounts it.");
    }

    /// <summary>A carried volume's Docker labels (<c>?labels=</c>, a JSON object of strings), or none.</summary>
    private static Dictionary<string, string> ParseLabels(string? labels)
    {
        if (string.IsNullOrEmpty(labels))
        {
            return [];
        }
        try
        {
            return JsonSerializer.Deserialize(labels, StrataJsonContext.Default.DictionaryStringString) ?? [];
        }
        catch (JsonException e)
        {
            throw StrataException.Invalid("labels", $"is not a JSON object of strings ({e.Message}); send the volume's labels as {{\"key\":\"value\"}}");
        }
    }

    /// <summary>The cold move's steps as the operation's one item.</summary>
    internal sealed class StepReporter(Operation operation) : IProgress<ColdMoveStep>
    {
        public void Report(ColdMoveStep step)
        {
            if (step.ImageBytes is { } bytes)
            {
                // The image the target lacked, in bytes, as its own item beside the move's steps.
                operation.Report(new ProgressItem("image", "image", step.Phase, bytes, step.ImageTotal) { Message = step.Message }, always: step.Phase != "sending-image" || bytes == 0);
            }
            operation.Report(new ProgressItem("move", "move", step.Phase, step.Step, step.Steps) { Message = step.Message }, always: true);
            operation.SetMessage(step.Message);
        }
    }
}
