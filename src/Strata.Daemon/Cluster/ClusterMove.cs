using System.Text.Json;
using Strata.Cluster;
using Strata.Contracts;
using Strata.Control;
using Strata.Control.Operations;
using Strata.Daemon.Api;
using Strata.Daemon.Move;

namespace Strata.Daemon.Cluster;

/// <summary>
/// <c>strata move NAME --node TARGET</c> inside a cluster (docs/move.md "Inside a cluster"). The request reaches the
/// node that runs the instance (relayed like every request about one instance); that node checks the target,
/// writes the move marker under its own lease (<see cref="ClusterMoves"/>), and moves the instance cold to the
/// target's API with the cluster token. The target answers those calls with its local handlers because the
/// marker names it (<see cref="IsMoveTargetAsync"/>). After the target started it, one etcd transaction moves
/// the assignment; if that fails the move is undone and the instance stays on the source.
/// </summary>
public static class ClusterMove
{
    public static async Task<IResult> StartAsync(ClusterNode? cluster, InstanceService service, OperationRegistry operations,
        string project, string name, MoveRequest request, CancellationToken ct)
    {
        var to = request.Node!;
        if (cluster is null)
        {
            throw StrataException.Invalid("node", "this daemon is not a cluster node, so there is no node to name; between standalone daemons use --to-address and --to-token");
        }
        if (request.ToAddress is not null)
        {
            throw StrataException.Invalid("node", "give --node (inside a cluster) or --to-address (another daemon), not both");
        }
        if (ColdMoveEndpoints.ChooseMode(service, project, name, request.Mode) == "live")
        {
            throw StrataException.Invalid("mode", "a live move by node name is not built yet; move it cold (--cold), or live with --to-address and --to-token to the node's address");
        }
        var tier = service.Get(project, name).Tier.ToName();
        var target = (await ClusterView.NodesAsync(cluster.Etcd, ct).ConfigureAwait(false)).FirstOrDefault(n => n.Name == to)
            ?? throw StrataException.NotFound($"node '{to}' is not in the cluster; name one that 'strata node ls' lists");
        if (target.Name == cluster.Name)
        {
            throw StrataException.Invalid("node", $"instance '{name}' already runs on node {to}; name another node (strata node ls)");
        }
        if (target.Record is not { } record)
        {
            throw new StrataException(ErrorKind.Unavailable, $"node {to} is offline; bring it back or name another node (strata node ls)");
        }
        if (target.Settings.Draining)
        {
            throw StrataException.Conflict($"node {to} is draining and takes nothing new; undrain it first (strata node undrain {to}) or name another node");
        }
        if (!record.Tiers.Any(t => t.Tier == tier))
        {
            throw StrataException.Invalid("node", $"node {to} does not offer the {tier} tier (it offers {string.Join(", ", record.Tiers.Select(t => t.Tier))}); name another node");
        }
        if (record.Tls)
        {
            throw StrataException.Invalid("node", $"node {to} speaks TLS; moves by node name to TLS nodes are not built yet (use --to-address https://… --to-token)");
        }
        var address = RemoteMoveDestination.ParseAddress(record.Address);
        var marker = new MoveMarker(cluster.Name, to);
        await ClusterMoves.BeginAsync(cluster.Etcd, project, name, marker, cluster.Lease, ct).ConfigureAwait(false);
        var operation = operations.Start("move", name, project, async (op, opCt) =>
        {
            var switched = false;
            try
            {
                using var remote = new RemoteMoveDestination(address, cluster.Token, project);
                var destination = new SwitchingDestination(remote, "node " + to, async () =>
                {
                    switched = await ClusterMoves.SwitchAsync(cluster.Etcd, project, name, marker, CancellationToken.None).ConfigureAwait(false);
                    if (!switched)
                    {
                        throw StrataException.Conflict($"the cluster no longer holds the move of '{name}' (this node lost its lease, or the instance was removed); it stays on node {cluster.Name}");
                    }
                });
                op.SetMessage($"cold, to node {to}");
                var result = await service.ColdMoveOutAsync(project, name, destination, new ColdMoveEndpoints.StepReporter(op), opCt).ConfigureAwait(false);
                return JsonSerializer.SerializeToElement(result with { To = to }, StrataJsonContext.Default.MoveResult);
            }
            finally
            {
                if (!switched)
                {
                    await ClusterMoves.EndAsync(cluster.Etcd, project, name, CancellationToken.None).ConfigureAwait(false);
                }
            }
        });
        return Results.Json(operation.ToInfo(), StrataJsonContext.Default.OperationInfo, statusCode: StatusCodes.Status202Accepted);
    }

    /// <summary>
    /// A node's own call (cluster token, no caller named) about an instance whose move marker names this node as the
    /// target: the source creating it here, switching it in, or removing it on undo. The local handlers answer it.
    /// </summary>
    public static async Task<bool> IsMoveTargetAsync(HttpContext http, ClusterNode cluster, string project, string[] parts, CancellationToken ct)
    {
        if (ClusterPeer.ForwardedBy(http) is null || http.Request.Headers.ContainsKey(ClusterPeer.CallerHeader))
        {
            return false;
        }
        string? name = parts.Length >= 3 ? parts[2] : null;
        if (name is null && parts.Length == 2 && http.Request.Method == "POST")
        {
            http.Request.EnableBuffering();
            var create = await JsonSerializer.DeserializeAsync(http.Request.Body, StrataJsonContext.Default.CreateInstanceRequest, ct).ConfigureAwait(false);
            http.Request.Body.Position = 0;
            name = create?.Spec.Name;
        }
        return name is not null && (await ClusterMoves.FindAsync(cluster.Etcd, project, name, ct).ConfigureAwait(false))?.Target == cluster.Name;
    }

    /// <summary>The target node's API, with the cluster's switch right after the target took the instance over.</summary>
    private sealed class SwitchingDestination(IColdMoveDestination inner, string name, Func<Task> afterMoveIn) : IColdMoveDestination
    {
        public string Name => name;

        public Task<InstanceInfo> CreateAsync(InstanceSpec spec, CancellationToken cancellationToken) => inner.CreateAsync(spec, cancellationToken);

        public async Task<InstanceInfo> MoveInAsync(string instance, string? stateArchive, bool start, CancellationToken cancellationToken)
        {
            var info = await inner.MoveInAsync(instance, stateArchive, start, cancellationToken).ConfigureAwait(false);
            await afterMoveIn().ConfigureAwait(false);
            return info;
        }

        public Task RemoveAsync(string instance, CancellationToken cancellationToken) => inner.RemoveAsync(instance, cancellationToken);
    }
}
