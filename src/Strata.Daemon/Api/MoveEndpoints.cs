using System.Text.Json;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Control;
using Strata.Control.Operations;
using Strata.Daemon.Move;
using Strata.Qemu.Migration;

namespace Strata.Daemon.Api;

/// <summary>
/// Moves (docs/move.md): <c>POST /v1/instances/{name}/move</c> starts one as an operation of the caller's project;
/// <c>/v1/instances/{name}/incoming[/confirm]</c> are what the source daemon calls on the target, with a token the
/// target accepts for the same project.
/// </summary>
public static class MoveEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/instances").WithTags("instances");

        group.MapPost("/{name}/move", async (string name, HttpContext http, InstanceService service, OperationRegistry operations) =>
        {
            var project = InstanceEndpoints.Project(http);
            var request = await JsonSerializer.DeserializeAsync(http.Request.Body, StrataJsonContext.Default.MoveRequest, http.RequestAborted)
                ?? throw StrataException.Invalid("body", "expected a JSON move request such as {\"toAddress\": \"http://10.0.0.2:7443\", \"toToken\": \"…\"}");
            if (request.Node is { Length: > 0 })
            {
                return await Cluster.ClusterMove.StartAsync(http.RequestServices.GetService<Cluster.ClusterNode>(), service, operations, project, name, request, http.RequestAborted);
            }
            var address = RemoteMoveDestination.ParseAddress(request.ToAddress);
            if (string.IsNullOrWhiteSpace(request.ToToken))
            {
                throw StrataException.Invalid("toToken", "give a token the target daemon accepts for this project (--to-token: its admin token, or an operator token of the same project there)");
            }
            var options = LiveOptions(request);
            if (ColdMoveEndpoints.ChooseMode(service, project, name, request.Mode) == "cold")
            {
                return ColdMoveEndpoints.Start(service, operations, project, name, address, request.ToToken);
            }
            EnsureLiveMovable(service, project, name);
            var operation = operations.Start("move", name, project, async (op, ct) =>
            {
                using var destination = new RemoteMoveDestination(address, request.ToToken, project);
                op.SetMessage($"to {destination.Name}");
                var result = await service.MoveOutAsync(project, name, destination, options, new MoveProgressReporter(op), ct).ConfigureAwait(false);
                return JsonSerializer.SerializeToElement(result, StrataJsonContext.Default.MoveResult);
            });
            return Results.Json(operation.ToInfo(), StrataJsonContext.Default.OperationInfo, statusCode: StatusCodes.Status202Accepted);
        }).Accepts<MoveRequest>("application/json").Produces<OperationInfo>(StatusCodes.Status202Accepted)
            .WithSummary("Move an instance to another daemon (toAddress, toToken; mode live for a running VM, cold for container, wasm and process); returns the move's operation (progress, cancel with DELETE /v1/operations/{id}).");

        group.MapPost("/{name}/incoming", async (string name, HttpContext http, InstanceService service) =>
        {
            var request = await JsonSerializer.DeserializeAsync(http.Request.Body, StrataJsonContext.Default.IncomingMoveRequest, http.RequestAborted)
                ?? throw StrataException.Invalid("body", "expected an incoming move request");
            var info = await service.PrepareIncomingAsync(InstanceEndpoints.Project(http), name, request, http.RequestAborted);
            return Results.Json(info, StrataJsonContext.Default.IncomingMoveInfo);
        }).Accepts<IncomingMoveRequest>("application/json").Produces<IncomingMoveInfo>()
            .WithSummary("Daemon to daemon: prepare the receiving side of a live move (the source daemon calls this).");

        group.MapPost("/{name}/incoming/confirm", async (string name, int? timeout, HttpContext http, InstanceService service) =>
        {
            var wait = TimeSpan.FromSeconds(Math.Clamp(timeout ?? 30, 1, 600));
            var record = await service.ConfirmIncomingAsync(InstanceEndpoints.Project(http), name, wait, http.RequestAborted);
            return Results.Json(InstanceEndpoints.ToInfo(record), StrataJsonContext.Default.InstanceInfo);
        }).Produces<InstanceInfo>()
            .WithSummary("Daemon to daemon: the source completed; wait (?timeout seconds) until the guest runs here and take the instance over.");

        group.MapDelete("/{name}/incoming", async (string name, HttpContext http, InstanceService service) =>
        {
            await service.DiscardIncomingAsync(InstanceEndpoints.Project(http), name);
            return Results.NoContent();
        }).WithSummary("Daemon to daemon: remove a receiving side that was not confirmed (nothing to remove is not an error).");
    }

    /// <summary>Refused now, not inside the operation: another project's instance ("not found"), another tier, not running.</summary>
    internal static void EnsureLiveMovable(InstanceService service, string project, string name)
    {
        var record = service.Get(project, name);
        if (service.Drivers.Get(record.Tier) is not ILiveMoveDriver)
        {
            throw StrataException.Invalid("tier",
                $"the {record.Tier.ToName()} tier cannot move live; live moves are built for the vm and sandbox tiers (the container, wasm and process tiers move cold: --cold; see docs/move.md)");
        }
        if (record.State != InstanceState.Running)
        {
            throw StrataException.Conflict($"instance '{name}' is {record.State.ToName()}; only a running instance moves live (start it first)");
        }
    }

    /// <summary>The live options of a move request (its bandwidth limit and postcopy).</summary>
    internal static LiveMoveOptions LiveOptions(MoveRequest request) => new()
    {
        MaxBandwidth = request.Bandwidth is { } b ? MigrationOptions.ParseBandwidth(b) : null,
        Postcopy = request.Postcopy,
    };

    /// <summary>The move's progress as the operation's items: RAM and disk bytes, and a line with the dirty rate and expected downtime.</summary>
    internal sealed class MoveProgressReporter(Operation operation) : IProgress<LiveMoveProgress>
    {
        public void Report(LiveMoveProgress p)
        {
            if (p.DiskTotal > 0)
            {
                operation.Report(new ProgressItem("disk", "disk", p.Phase == "copying-disks" ? "copying" : "copied", p.DiskCopied, p.DiskTotal));
            }
            operation.Report(new ProgressItem("ram", "ram", p.Phase, p.RamTransferred, Math.Max(p.RamTotal, p.RamTransferred + p.RamRemaining)));
            operation.SetMessage($"{p.Phase}: {Mib(p.RamRemaining)} MiB of RAM left, dirty {Mib(p.DirtyRate)} MiB/s, pass {p.Iterations}"
                + (p.ExpectedDowntimeMs is { } d ? $", expected downtime {d:0} ms" : "")
                + (p.ThrottlePercent > 0 ? $", throttle {p.ThrottlePercent} %" : ""));
        }

        private static string Mib(long bytes) => (bytes / (1024.0 * 1024)).ToString("0.#", System.Globalization.CultureInfo.InvariantCulture);
    }
}
