using Strata.Contracts;
using Strata.Control;
using Strata.Images;

namespace Strata.Daemon.Api;

/// <summary><c>POST /v1/instances/{name}/commit?image=NAME[&amp;cmd=WORD...]</c>: a container's writable layer becomes a new image.</summary>
public static class CommitEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/instances/{name}/commit", async (string name, string? image, HttpContext http, InstanceService service, ImageStore store) =>
        {
            // Read by hand: a string[] parameter of a POST handler would be bound from the body.
            var cmd = http.Request.Query["cmd"].Where(w => w is not null).Select(w => w!).ToArray();
            if (string.IsNullOrEmpty(image))
            {
                throw StrataException.Invalid("image", "give the name of the new image, e.g. ?image=myapp:1");
            }
            var info = await service.CommitAsync(InstanceEndpoints.Project(http), name,
                (source, changes) => store.CommitLayerAsync(source, changes, image, cmd is { Length: > 0 } ? cmd : null, http.RequestAborted),
                http.RequestAborted);
            return Results.Json(ImageEndpoints.ToSummary(info), StrataJsonContext.Default.ImageSummary, statusCode: StatusCodes.Status201Created);
        }).WithTags("instances").Produces<ImageSummary>(StatusCodes.Status201Created)
            .WithSummary("Turn a stopped container's writable layer into a new image (?image=NAME; ?cmd=WORD repeated replaces the image's Cmd).");
    }
}
