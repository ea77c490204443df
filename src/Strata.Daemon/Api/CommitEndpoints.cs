using Strata.Contracts;
using Strata.Control;
using Strata.Images;

namespace Strata.Daemon.Api;

/// <summary><c>POST /v1/instances/{name}/commit?image=NAME[&amp;cmd=WORD...]</c>: a container's writable layer becomes a new image.</summary>
public static class CommitEndpoints
{
    /// <summary>The overlay upper directory in a container's instance directory (see ContainerRootfs).</summary>
    private const string UpperDirectoryName = "rootfs-upper";

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
            var record = service.Get(InstanceEndpoints.Project(http), name);
            if (record.Tier != Tier.Container)
            {
                throw StrataException.Conflict($"cannot commit instance '{name}': it is a {record.Tier.ToName()} instance; commit turns a container into an image");
            }
            if (record.State.IsActive())
            {
                // Consistency without freezing: nothing writes to a stopped container's layer.
                throw StrataException.Conflict($"cannot commit instance '{name}': it is {record.State.ToName()}; stop it first (strata stop {name})");
            }
            var upper = Path.Combine(service.InstanceDirectory(record.Id), UpperDirectoryName);
            var info = await store.CommitLayerAsync(record.Spec.Image!, upper, image, cmd is { Length: > 0 } ? cmd : null, http.RequestAborted);
            return Results.Json(ImageEndpoints.ToSummary(info), StrataJsonContext.Default.ImageSummary, statusCode: StatusCodes.Status201Created);
        }).WithTags("instances").Produces<ImageSummary>(StatusCodes.Status201Created)
            .WithSummary("Turn a stopped container's writable layer into a new image (?image=NAME; ?cmd=WORD repeated replaces the image's Cmd).");
    }
}
