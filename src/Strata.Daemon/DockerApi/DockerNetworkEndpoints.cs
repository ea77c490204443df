using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Strata.Contracts;
using Strata.Control;
using Strata.Store;
using Strata.Node.Networking;
using static Strata.Daemon.DockerApi.DockerApiHost;

namespace Strata.Daemon.DockerApi;

/// <summary>
/// Networks are Strata's bridge networks of the project. Docker's <c>bridge</c> is Strata's default network
/// (default project only); <c>host</c> and <c>none</c> are listed as Docker lists them.
/// </summary>
internal static class DockerNetworkEndpoints
{
    public static string IdOf(string name) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("strata-network:" + name)));

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/networks", (HttpContext http, NetworkRegistry networks, InstanceService service, DockerNetworkNames names) =>
        {
            var filters = DockerFilters.Parse(http.Request.Query["filters"]);
            filters.Only("name", "id", "driver", "label", "type", "scope");
            var list = All(Project(http), networks, service, names)
                .Where(n => filters.Matches("name", f => n.Name.Contains(f, StringComparison.Ordinal)))
                .Where(n => filters.Matches("id", f => n.Id.StartsWith(f, StringComparison.Ordinal)))
                .Where(n => filters.Matches("driver", f => n.Driver == f))
                .Where(n => filters.MatchesAll("label", f => DockerFilters.LabelMatches(n.Labels, f)))
                .ToList();
            return Json(list, DockerJsonContext.Default.ListDockerNetwork);
        });
        app.MapGet("/networks/{id}", (string id, HttpContext http, NetworkRegistry networks, InstanceService service, DockerNetworkNames names) =>
            Json(Find(Project(http), id, networks, service, names), DockerJsonContext.Default.DockerNetwork));
        app.MapPost("/networks/create", async (HttpContext http, NetworkRegistry networks, DockerNetworkNames names) =>
        {
            var request = await ReadAsync(http, DockerJsonContext.Default.DockerNetworkCreate)
                ?? throw StrataException.Invalid("body", "expected a network configuration such as {\"Name\":\"backend\"}");
            if (request.Driver is { Length: > 0 } driver && driver != "bridge")
            {
                throw StrataException.Invalid("Driver", $"'{driver}': Strata networks are bridges; use the bridge driver");
            }
            if (request.EnableIPv6)
            {
                throw StrataException.Invalid("EnableIPv6", "Strata networks are IPv4 only");
            }
            if (request.Options is { Count: > 0 } options)
            {
                throw StrataException.Invalid($"Options.{options.Keys.First()}", "driver options are not supported by Strata");
            }
            if (request.ConfigOnly || request.Ingress || request.ConfigFrom is { ValueKind: not System.Text.Json.JsonValueKind.Null } || request.Scope is { Length: > 0 } and not "local")
            {
                throw StrataException.Invalid("ConfigOnly", "swarm and config-only networks are not supported by Strata");
            }
            var ipam = request.IPAM?.Config ?? [];
            if (ipam.Count > 1 || ipam.Any(c => c.Gateway is { Length: > 0 } || c.IPRange is { Length: > 0 } || c.AuxiliaryAddresses is { Count: > 0 }))
            {
                throw StrataException.Invalid("IPAM.Config", "Strata takes one subnet per network and picks the gateway and range itself; give only --subnet");
            }
            if (request.IPAM?.Driver is { Length: > 0 } ipamDriver && ipamDriver != "default")
            {
                throw StrataException.Invalid("IPAM.Driver", $"'{ipamDriver}' is not supported; Strata assigns addresses itself");
            }
            if (request.Name is "bridge" or "host" or "none")
            {
                throw new StrataException(ErrorKind.Forbidden, $"{request.Name} is a pre-defined network and cannot be created");
            }
            var project = Project(http);
            var strataName = DockerContainerSpec.ToStrataName(request.Name);
            var created = await networks.CreateAsync(new CreateNetworkRequest
            {
                Name = strataName,
                Subnet = ipam.FirstOrDefault()?.Subnet,
                Internal = request.Internal,
            }, project, http.RequestAborted);
            names.Set(project, created.Name, new DockerNetworkMeta(request.Name, request.Labels ?? []));
            return Json(new DockerNetworkCreated(IdOf(request.Name), ""), DockerJsonContext.Default.DockerNetworkCreated, StatusCodes.Status201Created);
        });
        app.MapDelete("/networks/{id}", async (string id, HttpContext http, NetworkRegistry networks, InstanceService service, DockerNetworkNames names) =>
        {
            var project = Project(http);
            var network = Find(project, id, networks, service, names);
            if (network.Name is "bridge" or "host" or "none")
            {
                throw new StrataException(ErrorKind.Forbidden, $"{network.Name} is a pre-defined network and cannot be removed");
            }
            var strataName = names.ToStrata(project, network.Name);
            await networks.RemoveAsync(strataName, project, http.RequestAborted);
            names.Remove(project, strataName);
            return Results.NoContent();
        });
        app.MapPost("/networks/{id}/connect", async (string id, HttpContext http, NetworkRegistry networks, InstanceService service, DockerNetworkNames names) =>
        {
            var request = await ReadAsync(http, DockerJsonContext.Default.DockerNetworkConnect);
            var (project, container, strataName) = ConnectTarget(id, request, http, networks, service, names, "connected to");
            var aliases = new List<string>();
            if (request?.EndpointConfig is { ValueKind: JsonValueKind.Object } endpoint)
            {
                foreach (var setting in endpoint.EnumerateObject())
                {
                    if (setting.Name == "Aliases")
                    {
                        aliases.AddRange((DockerContainerSpec.Strings(setting.Value, "EndpointConfig.Aliases") ?? []).Select(DockerContainerSpec.ToStrataName));
                    }
                    else if (setting.Name is not ("NetworkID" or "EndpointID"))
                    {
                        DockerContainerSpec.RefuseUnlessZero($"EndpointConfig.{setting.Name}", setting.Value);
                    }
                }
            }
            await service.ConnectNetworkAsync(project, container.Name, strataName, [.. aliases.Where(a => a != container.Name).Distinct()], http.RequestAborted);
            return Results.Ok();
        });
        app.MapPost("/networks/{id}/disconnect", async (string id, HttpContext http, NetworkRegistry networks, InstanceService service, DockerNetworkNames names) =>
        {
            var request = await ReadAsync(http, DockerJsonContext.Default.DockerNetworkConnect);
            var (project, container, strataName) = ConnectTarget(id, request, http, networks, service, names, "disconnected from");
            await service.DisconnectNetworkAsync(project, container.Name, strataName, http.RequestAborted);
            return Results.Ok();
        });
        app.MapPost("/networks/prune", () => DockerContainerEndpoints.NotSupported("network prune"));
    }

    /// <summary>
    /// The project, container and Strata network of a connect or disconnect: the network by name or ID prefix, the
    /// container by name or ID (both 404 when they are another project's).
    /// </summary>
    private static (string Project, InstanceRecord Container, string Network) ConnectTarget(
        string id, DockerNetworkConnect? request, HttpContext http, NetworkRegistry networks, InstanceService service, DockerNetworkNames names, string verb)
    {
        var project = Project(http);
        var network = Find(project, id, networks, service, names);
        if (string.IsNullOrEmpty(request?.Container))
        {
            throw StrataException.Invalid("Container", "name the container, e.g. {\"Container\":\"web\"}");
        }
        var container = DockerContainers.Resolve(service, project, request.Container);
        if (network.Name is "host" or "none")
        {
            throw new StrataException(ErrorKind.Forbidden, $"container cannot be {verb} the {network.Name} network: it is a mode chosen at create (--network {network.Name}), not a network");
        }
        var strataName = network.Name == "bridge" ? networks.DefaultNetwork : names.ToStrata(project, network.Name);
        return (project, container, strataName);
    }

    private static DockerNetwork Find(string project, string id, NetworkRegistry networks, InstanceService service, DockerNetworkNames names)
    {
        var all = All(project, networks, service, names);
        return all.FirstOrDefault(n => n.Name == id)
            ?? (all.Where(n => n.Id.StartsWith(id, StringComparison.Ordinal)).ToList() is [var one] ? one : null)
            ?? throw StrataException.NotFound($"network {id} not found");
    }

    private static List<DockerNetwork> All(string project, NetworkRegistry networks, InstanceService service, DockerNetworkNames names)
    {
        var instances = service.List(project).ToDictionary(r => r.Name, StringComparer.Ordinal);
        var list = new List<DockerNetwork>();
        foreach (var n in networks.List(project))
        {
            var meta = names.Find(project, n.Name);
            var name = n.Name == networks.DefaultNetwork ? "bridge" : meta?.Name ?? n.Name;
            var members = new Dictionary<string, DockerNetworkMember>(StringComparer.Ordinal);
            foreach (var m in n.Members.Where(m => m.Project == project))
            {
                var id = instances.TryGetValue(m.Instance, out var r) ? DockerContainers.IdOf(r) : m.Instance;
                members[id] = new DockerNetworkMember { Name = m.Instance, IPv4Address = m.Address.Length > 0 ? $"{m.Address}/{n.Subnet.Split('/')[1]}" : "" };
            }
            list.Add(new DockerNetwork
            {
                Name = name,
                Id = IdOf(name),
                Created = DockerContainers.Time(n.CreatedAt),
                Internal = n.Internal,
                IPAM = new DockerIpam { Driver = "default", Config = [new DockerIpamConfig { Subnet = n.Subnet, Gateway = n.Gateway }] },
                Containers = members,
                Labels = meta?.Labels ?? [],
            });
        }
        foreach (var special in new[] { "host", "none" })
        {
            list.Add(new DockerNetwork
            {
                Name = special,
                Id = IdOf(special),
                Created = DockerContainers.Time(null),
                Driver = special == "host" ? "host" : "null",
                IPAM = new DockerIpam { Driver = "default", Config = [] },
                Containers = [],
            });
        }
        return list;
    }
}
