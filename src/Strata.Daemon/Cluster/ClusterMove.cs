using System.Text.Json;
using Strata.Cluster;
using Strata.Cluster.Etcd;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Control;
using Strata.Control.Operations;
using Strata.Daemon.Api;
using Strata.Daemon.Move;
using Strata.Node.Guest;

namespace Strata.Daemon.Cluster;

/// <summary>
/// <c>strata move NAME --node TARGET</c> inside a cluster (docs/move.md "Inside a cluster"). The request reaches the
/// node that runs the instance (relayed like every request about one instance); that node checks the target
/// (<see cref="MoveTargetCheck"/>: online, the tier, a live guest's CPU model, free CPU and memory), writes the move marker under its own lease (<see cref="ClusterMoves"/>), and moves the instance to the target's
/// API with the cluster token: live (a running vm or sandbox, the default for them) or cold. The target answers
/// those calls with its local handlers because the marker names it (<see cref="IsMoveTargetAsync"/>). Once the target
/// took the instance over (a cold move's move-in, a live move's confirm), one etcd transaction moves the assignment and
/// the nodes' free resources; if that fails, the target's copy is removed and the instance stays on the source (a live
/// move resumes the source's guest, paused since the switchover).
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
        var live = ColdMoveEndpoints.ChooseMode(service, project, name, request.Mode) == "live";
        LiveMoveOptions? options = null;
        if (live)
        {
            options = MoveEndpoints.LiveOptions(request);
            MoveEndpoints.EnsureLiveMovable(service, project, name);
        }
        var instance = service.Get(project, name);
        var details = instance.Handle?.Data;
        // Before anything starts: the target is there and takes this tier, runs a live guest's CPU model, and has room.
        var record = await MoveTargetCheck.CheckAsync(cluster.Etcd, new MoveAsk(project, name, cluster.Name, to, instance.Tier.ToName(), live,
            details?.GetValueOrDefault(GuestCpuDetails.AcceleratorKey), GuestCpuDetails.NamedModel(details?.GetValueOrDefault(GuestCpuDetails.ModelKey))), ct).ConfigureAwait(false);
        var marker = new MoveMarker(cluster.Name, to);
        await ClusterMoves.BeginAsync(cluster.Etcd, project, name, marker, cluster.Lease, ct).ConfigureAwait(false);
        var operation = operations.Start("move", name, project, async (op, opCt) =>
        {
            var move = new NodeSwitch(cluster, project, name, marker);
            try
            {
                using var remote = RemoteMoveDestination.ForNode(record, cluster.Token, project);
                MoveResult result;
                if (options is not null)
                {
                    op.SetMessage($"live, to node {to}");
                    result = await service.MoveOutAsync(project, name, new LiveSwitchingDestination(remote, "node " + to, move), options,
                        new MoveEndpoints.MoveProgressReporter(op), opCt).ConfigureAwait(false);
                }
                else
                {
                    op.SetMessage($"cold, to node {to}");
                    result = await service.ColdMoveOutAsync(project, name, new ColdSwitchingDestination(remote, "node " + to, move),
                        new ColdMoveEndpoints.StepReporter(op), opCt).ConfigureAwait(false);
                }
                return JsonSerializer.SerializeToElement(result with { To = to }, StrataJsonContext.Default.MoveResult);
            }
            finally
            {
                if (!move.Switched)
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

    /// <summary>
    /// The switch of one move by node name, done once the target took the instance over, and the removal of the
    /// target's copy when it fails.
    /// </summary>
    private sealed class NodeSwitch(ClusterNode cluster, string project, string name, MoveMarker marker)
    {
        public bool Switched { get; private set; }

        /// <summary>
        /// Moves the assignment to the target. An etcd failure leaves it unknown whether the transaction was applied:
        /// the outcome is read back (for up to 30 s) before the move is called failed.
        /// </summary>
        public async Task SwitchAsync()
        {
            try
            {
                Switched = await ClusterMoves.SwitchAsync(cluster.Etcd, project, name, marker, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is EtcdUnavailableException or EtcdRequestException)
            {
                Switched = await ReadBackAsync().ConfigureAwait(false)
                    ?? throw new StrataException(ErrorKind.Unavailable, $"etcd did not answer the switch of '{name}' ({e.Message}); it stays on node {cluster.Name}", inner: e);
            }
            if (!Switched)
            {
                throw StrataException.Conflict($"the cluster no longer holds the move of '{name}' (this node lost its lease, or the instance was removed); it stays on node {cluster.Name}");
            }
        }

        private async Task<bool?> ReadBackAsync()
        {
            for (var attempt = 0; attempt < 30; attempt++)
            {
                try
                {
                    return await ClusterMoves.SwitchedAsync(cluster.Etcd, project, name, marker, CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception e) when (e is EtcdUnavailableException or EtcdRequestException)
                {
                    await Task.Delay(TimeSpan.FromSeconds(1)).ConfigureAwait(false);
                }
            }
            return null;
        }

        /// <summary>
        /// Removes the target's copy through the target's API, which answers with its local handlers only while the
        /// marker names it: a marker that lapsed (this node's lease) is written again first, so the removal can never
        /// reach the cluster's own removal of the instance. When another move holds the name, the copy is left to the
        /// target's node agent, which removes a copy it holds no assignment for once no marker protects it.
        /// </summary>
        public async Task RemoveTargetCopyAsync(Func<Task> remove)
        {
            var now = await ClusterMoves.FindAsync(cluster.Etcd, project, name, CancellationToken.None).ConfigureAwait(false);
            if (now is null)
            {
                try
                {
                    await ClusterMoves.BeginAsync(cluster.Etcd, project, name, marker, cluster.Lease, CancellationToken.None).ConfigureAwait(false);
                    now = marker;
                }
                catch (StrataException e) when (e.Kind == ErrorKind.Conflict)
                {
                    return;
                }
            }
            if (now == marker)
            {
                await remove().ConfigureAwait(false);
            }
        }
    }

    /// <summary>A cold move to the target node's API, with the cluster's switch right after the target took the instance over.</summary>
    private sealed class ColdSwitchingDestination(RemoteMoveDestination inner, string name, NodeSwitch move) : IColdMoveDestination
    {
        public string Name => name;

        public Task<InstanceInfo> CreateAsync(InstanceSpec spec, CancellationToken cancellationToken) => inner.CreateAsync(spec, cancellationToken);

        public async Task<InstanceInfo> MoveInAsync(string instance, string? stateArchive, bool start, CancellationToken cancellationToken)
        {
            var info = await inner.MoveInAsync(instance, stateArchive, start, cancellationToken).ConfigureAwait(false);
            await move.SwitchAsync().ConfigureAwait(false);
            return info;
        }

        public Task RemoveAsync(string instance, CancellationToken cancellationToken) =>
            move.RemoveTargetCopyAsync(() => inner.RemoveAsync(instance, cancellationToken));

        public Task CheckVolumeAsync(string volume, string digest, CancellationToken cancellationToken) => inner.CheckVolumeAsync(volume, digest, cancellationToken);

        public Task<VolumeArrival> MoveVolumeInAsync(string volume, string archive, string digest, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken) =>
            inner.MoveVolumeInAsync(volume, archive, digest, labels, cancellationToken);

        public Task RemoveVolumeAsync(string volume, CancellationToken cancellationToken) => inner.RemoveVolumeAsync(volume, cancellationToken);

        public Task<string?> ImageIdAsync(string reference, CancellationToken cancellationToken) => inner.ImageIdAsync(reference, cancellationToken);

        public Task ImportImageAsync(CarriedImage image, Func<Stream, CancellationToken, Task> write, CancellationToken cancellationToken) =>
            inner.ImportImageAsync(image, write, cancellationToken);

        public Task RemoveImageAsync(string image, string id, CancellationToken cancellationToken) => inner.RemoveImageAsync(image, id, cancellationToken);
    }

    /// <summary>
    /// A live move to the target node's API. The switch comes right after the target confirmed the guest runs there:
    /// until then the marker keeps both node agents off it. When the switch fails, the target's copy is removed
    /// before the confirm is reported failed, so the move's undo resumes the source's guest with no other copy running.
    /// </summary>
    private sealed class LiveSwitchingDestination(RemoteMoveDestination inner, string name, NodeSwitch move) : IMoveDestination
    {
        public string Name => name;

        public string ListenHost => inner.ListenHost;

        public Task<IncomingMoveInfo> PrepareAsync(string instance, IncomingMoveRequest request, CancellationToken cancellationToken) =>
            inner.PrepareAsync(instance, request, cancellationToken);

        public async Task ConfirmAsync(string instance, TimeSpan timeout, CancellationToken cancellationToken)
        {
            await inner.ConfirmAsync(instance, timeout, cancellationToken).ConfigureAwait(false);
            try
            {
                await move.SwitchAsync().ConfigureAwait(false);
            }
            catch (StrataException e)
            {
                try
                {
                    await move.RemoveTargetCopyAsync(() => inner.RemoveAsync(instance, CancellationToken.None)).ConfigureAwait(false);
                }
                catch (StrataException removal)
                {
                    throw new StrataException(e.Kind, $"{e.Message}; removing the copy on {name} also failed ({removal.Message}): that node's agent removes it as unassigned at its next comparison", inner: e);
                }
                throw;
            }
        }

        public Task DiscardAsync(string instance, CancellationToken cancellationToken) => inner.DiscardAsync(instance, cancellationToken);
    }
}
