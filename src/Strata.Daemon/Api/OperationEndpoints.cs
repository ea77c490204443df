using System.Text.Json;
using Strata.Contracts;
using Strata.Control.Operations;

namespace Strata.Daemon.Api;

/// <summary>REST endpoints under <c>/v1/operations</c>: long work (pulls, ...) to list, watch, wait for and cancel.</summary>
public static class OperationEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/operations").WithTags("operations");

        group.MapGet("/", (HttpContext http, OperationRegistry operations) =>
            Results.Json(new OperationList([.. operations.List().Where(o => Visible(http, o)).Select(o => o.ToInfo())]), StrataJsonContext.Default.OperationList))
            .Produces<OperationList>().WithSummary("Running operations and the most recent finished ones, newest first.");

        group.MapGet("/{id}", (string id, HttpContext http, OperationRegistry operations) =>
            Results.Json(Get(http, operations, id).ToInfo(), StrataJsonContext.Default.OperationInfo))
            .Produces<OperationInfo>().WithSummary("One operation: status, progress, error or result.");

        group.MapGet("/{id}/wait", async (string id, int? timeout, HttpContext http, OperationRegistry operations) =>
        {
            if (timeout is < 0)
            {
                throw StrataException.Invalid("timeout", "must be 0 or more seconds");
            }
            var operation = Get(http, operations, id);
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
            var operation = Get(http, operations, id);
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
            var operation = Get(http, operations, id);
            if (operation.Project is null && !Caller.Of(http).IsHostAdmin)
            {
                throw new StrataException(ErrorKind.Forbidden, $"operation {id} ({operation.Kind} of {operation.Target}) is host-wide work; only host administrators cancel it");
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
            .WithSummary("Cancel a running operation; answers when it has stopped (409 when it had already finished).");
    }

    /// <summary>Host-wide work is visible to every caller; a project's work (a move) only to that project and host administrators.</summary>
    private static bool Visible(HttpContext http, Operation operation)
    {
        var caller = Caller.Of(http);
        return caller.IsHostAdmin || operation.Project is null || operation.Project == caller.Project;
    }

    /// <summary>Another project's operation is "not found", worded like a missing one.</summary>
    private static Operation Get(HttpContext http, OperationRegistry operations, string id)
    {
        var operation = operations.Get(id);
        return Visible(http, operation) ? operation
            : throw operations.Missing(id);
    }
}
