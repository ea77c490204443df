using System.Text.Json;
using Strata.Contracts;
using Strata.Control.Operations;

namespace Strata.Daemon.Api;

/// <summary>
/// REST endpoints under <c>/v1/operations</c>: long work (pulls, instance creates) to list, watch, wait for and cancel.
/// Every lookup is in the caller's project (<see cref="InstanceEndpoints.Project"/>): another project's operation is
/// "not found" exactly like a missing one.
/// </summary>
public static class OperationEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/operations").WithTags("operations");

        group.MapGet("/", (HttpContext http, OperationRegistry operations) =>
            Results.Json(new OperationList([.. operations.List(InstanceEndpoints.Project(http)).Select(o => o.ToInfo())]), StrataJsonContext.Default.OperationList))
            .Produces<OperationList>().WithSummary("Running operations and the most recent finished ones, newest first.");

        group.MapGet("/{id}", (string id, HttpContext http, OperationRegistry operations) =>
            Results.Json(operations.Get(id, InstanceEndpoints.Project(http)).ToInfo(), StrataJsonContext.Default.OperationInfo))
            .Produces<OperationInfo>().WithSummary("One operation: status, progress, error or result.");

        group.MapGet("/{id}/wait", async (string id, int? timeout, HttpContext http, OperationRegistry operations) =>
        {
            if (timeout is < 0)
            {
                throw StrataException.Invalid("timeout", "must be 0 or more seconds");
            }
            var operation = operations.Get(id, InstanceEndpoints.Project(http));
            var done = operation.Completion;
            if (timeout is { } seconds)
            {
                done = done.WaitAsync(TimeSpan.FromSeconds(seconds)).ContinueWith(_ => { }, TaskScheduler.Default);
            }
            await done.WaitAsync(http.RequestAborted);
            return Results.Json(operation.ToInfo(), StrataJsonContext.Default.OperationInfo);
        }).Produces<OperationInfo>()
            .WithSummary("Block until the operation has finished (or ?timeout seconds have passed) and return it.");

        group.MapGet("/{id}/events", async (string id, HttpContext http, OperationRegistry operations) =>
        {
            var operation = operations.Get(id, InstanceEndpoints.Project(http));
            http.Response.ContentType = "application/x-ndjson";
            await foreach (var e in operation.WatchAsync(http.RequestAborted))
            {
                await JsonSerializer.SerializeAsync(http.Response.Body, e, StrataJsonContext.Default.OperationEvent, http.RequestAborted);
                await http.Response.Body.WriteAsync("\n"u8.ToArray(), http.RequestAborted);
                await http.Response.Body.FlushAsync(http.RequestAborted);
            }
        }).Produces<OperationEvent>(contentType: "application/x-ndjson")
            .WithSummary("NDJSON OperationEvents: the operation now, then item progress, then the operation in its final state.");

        group.MapDelete("/{id}", async (string id, HttpContext http, OperationRegistry operations) =>
        {
            var operation = operations.Get(id, InstanceEndpoints.Project(http));
            if (operation.Kind == ImageEndpoints.PullOperationKind && !Caller.Of(http).IsHostAdmin)
            {
                throw new StrataException(ErrorKind.Forbidden,
                    $"operation {id} pulls into the image store every project shares; only host administrators (the unix socket or the daemon's admin token) cancel it");
            }
            if (!operation.Cancel())
            {
                throw StrataException.Conflict($"operation {id} has already finished ({Operation.StatusName(operation.Status)}); there is nothing to cancel");
            }
            // Answer once the work has stopped and cleaned up, so the caller can rely on "nothing partial left".
            try
            {
                await operation.Completion.WaitAsync(TimeSpan.FromSeconds(30), http.RequestAborted);
            }
            catch (TimeoutException)
            {
            }
            return Results.Json(operation.ToInfo(), StrataJsonContext.Default.OperationInfo);
        }).Produces<OperationInfo>()
            .WithSummary("Cancel a running operation; answers when it has stopped and cleaned up (409 when it had already finished; a pull needs a host administrator).");
    }
}
