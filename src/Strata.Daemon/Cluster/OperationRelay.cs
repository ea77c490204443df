using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Strata.Contracts;
using Strata.Cluster;
using Strata.Control.Operations;
using Strata.Daemon.Api;

namespace Strata.Daemon.Cluster;

/// <summary>
/// Operations live in the memory of the node that runs them: a move by node name runs on the node that holds the
/// instance, whichever node the client asked. <c>/v1/operations/{id}[/…]</c> about an operation this node does not
/// hold for the caller's project is relayed to the online node that does (found by asking each, then remembered), so
/// <c>strata move --node</c> follows and cancels its move from any node. The other node checks the project as always:
/// another project's operation is not found there either. The list (<c>GET /v1/operations</c>) is the cluster's: this
/// node's operations and every other online node's (asked on the caller's behalf, so in the caller's project only),
/// each with its node, newest first; a node that does not answer is named in <see cref="OperationList.Unanswered"/>.
/// </summary>
public static class OperationRelay
{
    // Per cluster node (a test process may host several): operation id -> the node found holding it.
    private static readonly ConditionalWeakTable<ClusterNode, ConcurrentDictionary<string, string>> s_owners = new();

    /// <summary>True when the request was relayed; false when this node answers it (its own, unknown or not relayable).</summary>
    public static async Task<bool> TryRelayAsync(HttpContext http, ClusterNode cluster, string[] parts, CancellationToken ct)
    {
        if (ClusterPeer.ForwardedBy(http) is not null)
        {
            return false; // a relayed request is answered here, never sent on
        }
        if (parts.Length == 2)
        {
            if (!HttpMethods.IsGet(http.Request.Method))
            {
                return false;
            }
            await WriteClusterListAsync(http, cluster, ct).ConfigureAwait(false);
            return true;
        }
        var id = parts[2];
        var project = InstanceEndpoints.Project(http);
        var operations = http.RequestServices.GetRequiredService<OperationRegistry>();
        if (operations.List(project).Any(o => o.Id == id))
        {
            return false;
        }
        var caller = Caller.Of(http);
        var owners = s_owners.GetValue(cluster, _ => new ConcurrentDictionary<string, string>(StringComparer.Ordinal));
        var nodes = (await ClusterView.NodesAsync(cluster.Etcd, ct).ConfigureAwait(false))
            .Where(n => n.Name != cluster.Name && n.Record is not null).ToList();
        NodeRecord? owner = owners.TryGetValue(id, out var known) ? nodes.FirstOrDefault(n => n.Name == known)?.Record : null;
        if (owner is null)
        {
            foreach (var n in nodes)
            {
                if (await cluster.Forwarder.ProbeAsync(n.Record!, "/v1/operations/" + Uri.EscapeDataString(id), caller, ct).ConfigureAwait(false))
                {
                    owner = n.Record;
                    if (owners.Count > 10_000)
                    {
                        owners.Clear();
                    }
                    owners[id] = n.Name;
                    break;
                }
            }
        }
        if (owner is null)
        {
            return false; // no node holds it for this caller: this node's 404
        }
        await cluster.Forwarder.ForwardAsync(http, owner, caller).ConfigureAwait(false);
        return true;
    }

    /// <summary>This node's operations of the caller's project and every other online node's, each with its node, newest first.</summary>
    private static async Task WriteClusterListAsync(HttpContext http, ClusterNode cluster, CancellationToken ct)
    {
        var project = InstanceEndpoints.Project(http);
        var operations = http.RequestServices.GetRequiredService<OperationRegistry>();
        var items = operations.List(project).Select(o => o.ToInfo() with { Node = cluster.Name }).ToList();
        var caller = Caller.Of(http);
        var others = (await ClusterView.NodesAsync(cluster.Etcd, ct).ConfigureAwait(false))
            .Where(n => n.Name != cluster.Name && n.Record is not null && n.Online).ToList();
        var answers = await Task.WhenAll(others.Select(async n =>
            (n.Name, Answer: await cluster.Forwarder.GetAsync(n.Record!, "/v1/operations", caller, ct).ConfigureAwait(false)))).ConfigureAwait(false);
        var unanswered = new List<string>();
        foreach (var (name, (body, why)) in answers)
        {
            var list = body is null ? null : TryRead(body);
            if (list is null)
            {
                unanswered.Add($"{name}: {why ?? "its answer was not an operation list"}");
                continue;
            }
            items.AddRange(list.Items.Select(o => o with { Node = name }));
        }
        var merged = new OperationList([.. items.OrderByDescending(o => o.CreatedAt)], unanswered);
        http.Response.StatusCode = 200;
        http.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(http.Response.Body, merged, StrataJsonContext.Default.OperationList, ct).ConfigureAwait(false);
    }

    private static OperationList? TryRead(byte[] body)
    {
        try
        {
            return JsonSerializer.Deserialize(body, StrataJsonContext.Default.OperationList);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
