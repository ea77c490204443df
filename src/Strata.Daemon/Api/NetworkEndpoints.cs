using Strata.Contracts;
using Strata.Control;
using Strata.Node.Networking;

namespace Strata.Daemon.Api;

/// <summary><c>/v1/networks</c>: bridge networks instances join with <c>network: NAME</c> (docs/network.md).</summary>
public static class NetworkEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/networks").WithTags("networks");

        group.MapGet("/", (HttpContext http, NetworkRegistry networks) =>
            Results.Json(new NetworkList(networks.List(InstanceEndpoints.Project(http))), StrataJsonContext.Default.NetworkList))
            .Produces<NetworkList>().WithSummary("The project's networks and the default network, with their members.");

        group.MapPost("/", async (HttpContext http, NetworkRegistry networks) =>
        {
            var request = await ImageEndpoints.ReadJsonAsync(http, StrataJsonContext.Default.CreateNetworkRequest)
                ?? throw StrataException.Invalid("body", "expected a CreateNetworkRequest, e.g. {\"name\":\"backend\"}");
            var created = await networks.CreateAsync(request, InstanceEndpoints.Project(http), http.RequestAborted, Caller.Of(http).IsHostAdmin);
            return Results.Json(created, StrataJsonContext.Default.NetworkInfo, statusCode: StatusCodes.Status201Created);
        }).Accepts<CreateNetworkRequest>("application/json").Produces<NetworkInfo>(StatusCodes.Status201Created)
            .WithSummary("Create a bridge network of the project (names are per project); 'subnet' (IPv4 CIDR) defaults to a free /24 of 10.78.0.0/16, 'internal' turns NAT and the default route off, 'allowHost' (host administrators) lets a tenant project's members reach the host's own addresses.");

        group.MapGet("/{name}", (string name, HttpContext http, NetworkRegistry networks) =>
            Results.Json(networks.Get(name, InstanceEndpoints.Project(http)), StrataJsonContext.Default.NetworkInfo))
            .Produces<NetworkInfo>().WithSummary("One network with its members, their addresses and published ports.");

        group.MapDelete("/{name}", async (string name, HttpContext http, NetworkRegistry networks) =>
        {
            await networks.RemoveAsync(name, InstanceEndpoints.Project(http), http.RequestAborted);
            return Results.NoContent();
        }).WithSummary("Remove a network with its bridge, rules and leases; 409 while instances are attached.");

        var instances = app.MapGroup("/v1/instances/{name}/networks").WithTags("networks");

        instances.MapPost("/", async (string name, HttpContext http, InstanceService service) =>
        {
            var request = await ImageEndpoints.ReadJsonAsync(http, StrataJsonContext.Default.ConnectNetworkRequest)
                ?? throw StrataException.Invalid("body", "expected a ConnectNetworkRequest, e.g. {\"network\":\"backend\",\"aliases\":[\"db\"]}");
            var record = await service.ConnectNetworkAsync(InstanceEndpoints.Project(http), name, request.Network, request.Aliases ?? [], http.RequestAborted);
            return Results.Json(InstanceEndpoints.ToInfo(record), StrataJsonContext.Default.InstanceInfo);
        }).Accepts<ConnectNetworkRequest>("application/json").Produces<InstanceInfo>()
            .WithSummary("Join the instance to another network of its project (container tier; created, running or stopped): a new interface (eth1 …) in its namespace, its name and 'aliases' in the network's hosts files. Kept across restarts; details.connectedNetworks lists them.");

        instances.MapDelete("/{network}", async (string name, string network, HttpContext http, InstanceService service) =>
        {
            var record = await service.DisconnectNetworkAsync(InstanceEndpoints.Project(http), name, network, http.RequestAborted);
            return Results.Json(InstanceEndpoints.ToInfo(record), StrataJsonContext.Default.InstanceInfo);
        }).Produces<InstanceInfo>()
            .WithSummary("Leave a network joined with POST /v1/instances/{name}/networks (the network the instance was created on stays until it is removed).");
    }
}
