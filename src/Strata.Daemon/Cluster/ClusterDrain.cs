using System.Text.Json;
using Strata.Client;
using Strata.Cluster;
using Strata.Contracts;
using Strata.Control.Operations;
using Strata.Scheduler;

namespace Strata.Daemon.Cluster;

/// <summary>One instance a drain dealt with: moved (to a node), failed, or not movable, with the reason.</summary>
public sealed record DrainItem(string Project, string Name, string Tier, string? To = null, string? Reason = null);

/// <summary>What <c>strata node drain</c> did with the instances assigned to the node (the drain operation's result).</summary>
public sealed record DrainResult
{
    public string Node { get; init; } = "";
    public IReadOnlyList<DrainItem> Moved { get; init; } = [];
    public IReadOnlyList<DrainItem> Failed { get; init; } = [];
    public IReadOnlyList<DrainItem> NotMovable { get; init; } = [];
}

/// <summary>
/// <c>strata node drain NODE</c> after the flag is set, as an operation: every instance assigned to the node moves to
/// another node by name (<see cref="ClusterMove"/>: a running vm or sandbox live, the other tiers cold), <c>parallel</c>
/// at a time, each target chosen by the scheduler's own pipeline (<see cref="DrainPlanner"/>: the placement's filters
/// and scores, predicted use included) on the other nodes, counting what this drain already sent to each. Each move is asked of the drained node with the cluster token,
/// exactly as a relayed <c>strata move --node</c>, and followed there. The operation has one item per instance
/// (<c>waiting</c>, <c>moving</c>, then <c>moved</c>, <c>failed</c>, <c>cancelled</c>, <c>not-started</c> or
/// <c>not-movable</c>), so its progress is instances moved of those to move. Cancelling it starts no new move and
/// cancels the moves under way (each is undone: the instance stays on the drained node); what was moved stays moved.
/// </summary>
public static class ClusterDrain
{
    private static readonly TimeSpan MoveLimit = TimeSpan.FromMinutes(30);

    private sealed record Work(DrainItem Item, string Target);

    /// <summary>Plans the drain (the node must exist) and starts it as an operation of <paramref name="project"/>.</summary>
    public static async Task<Operation> StartAsync(ClusterNode cluster, OperationRegistry operations, string project, string node, int parallel,
        CancellationToken ct)
    {
        var (address, work, notMovable) = await PlanAsync(cluster, node, ct).ConfigureAwait(false);
        return operations.Start("drain", node, project, async (op, opCt) =>
        {
            foreach (var i in notMovable)
            {
                op.Report(new ProgressItem(Id(i), i.Tier, "not-movable", 0, 0) { Message = i.Reason }, always: true);
            }
            foreach (var w in work)
            {
                op.Report(new ProgressItem(Id(w.Item), w.Item.Tier, "waiting", 0, 1) { Message = "to " + w.Target }, always: true);
            }
            op.SetMessage(work.Count == 0 ? "nothing to move" : $"moving {work.Count} instance(s) off {node}, {parallel} at a time");
            var moved = new List<DrainItem>();
            var failed = new List<DrainItem>();
            using var gate = new SemaphoreSlim(Math.Max(1, parallel));
            await Task.WhenAll(work.Select(w => MoveOneAsync(cluster, address!, w, op, gate, moved, failed, notMovable, opCt))).ConfigureAwait(false);
            opCt.ThrowIfCancellationRequested(); // the items say what moved, what was undone and what never started
            var result = new DrainResult { Node = node, Moved = moved, Failed = failed, NotMovable = notMovable };
            op.SetMessage($"moved {moved.Count} of {work.Count}" + (failed.Count > 0 ? $", {failed.Count} failed" : "") + (notMovable.Count > 0 ? $", {notMovable.Count} not movable" : ""));
            return JsonSerializer.SerializeToElement(result, ClusterApiJson.Default.DrainResult);
        });
    }

    private static string Id(DrainItem i) => i.Project + "/" + i.Name;

    private static async Task<(NodeRecord? Source, List<Work> Work, List<DrainItem> NotMovable)> PlanAsync(ClusterNode cluster, string node, CancellationToken ct)
    {
        var nodes = await ClusterView.NodesAsync(cluster.Etcd, ct).ConfigureAwait(false);
        var drained = nodes.FirstOrDefault(n => n.Name == node)
            ?? throw StrataException.NotFound($"node '{node}' is not in the cluster (strata node ls lists them)");
        var assigned = await cluster.Etcd.GetPrefixAsync(ClusterKeys.AssignmentsOf(node), ct: ct).ConfigureAwait(false);
        var notMovable = new List<DrainItem>();
        var desired = new List<DesiredInstance>();
        foreach (var kv in assigned.Kvs)
        {
            var (project, name) = ClusterKeys.ProjectAndName(ClusterCodec.Key(kv));
            if (await cluster.Instances.GetAsync(project, name, ct).ConfigureAwait(false) is not { } instance)
            {
                continue;
            }
            if (drained.Record is null)
            {
                notMovable.Add(new DrainItem(project, name, instance.Desired.Tier) { Reason = $"node {node} is offline: its instances are placed again elsewhere by the cluster (restart always, stateless) or wait for it" });
                continue;
            }
            desired.Add(instance.Desired);
        }
        var work = new List<Work>();
        if (desired.Count > 0)
        {
            // The placement's own pipeline picks each target (filters, the algorithm's scores, predicted use), on the
            // same snapshot the scheduler leader would build: placed instances and the nodes' published loads.
            var loads = await ClusterView.LoadsAsync(cluster.Etcd, ct).ConfigureAwait(false);
            var placed = await ClusterView.PlacedAsync(cluster.Etcd, ct).ConfigureAwait(false);
            var projects = await ClusterView.ProjectsAsync(cluster.Etcd, desired.Select(d => d.Project), ct).ConfigureAwait(false);
            var targets = DrainPlanner.Plan(cluster.Scheduler, ClusterView.Snapshot(nodes, placed, loads: loads), node,
                desired.Select(d => ClusterView.Request(d, projects.GetValueOrDefault(d.Project))), Environment.TickCount);
            foreach (var (d, target) in desired.Zip(targets))
            {
                var item = new DrainItem(d.Project, d.Name, d.Tier);
                if (target.Node is { } to)
                {
                    work.Add(new Work(item, to));
                }
                else
                {
                    notMovable.Add(item with { Reason = "no other node can take it: " + (target.Error ?? "the scheduler found none") });
                }
            }
        }
        return (drained.Record, work, notMovable);
    }

    /// <summary>
    /// One move, asked of the drained node and followed there until it ends. A move the node refuses at once as bad
    /// input (a tier or state that cannot move) is not movable, with its reason; the drain's cancellation before the
    /// move started leaves it not started, after it started cancels it there and waits until it has been undone.
    /// </summary>
    private static async Task MoveOneAsync(ClusterNode cluster, NodeRecord source, Work w, Operation op, SemaphoreSlim gate,
        List<DrainItem> moved, List<DrainItem> failed, List<DrainItem> notMovable, CancellationToken ct)
    {
        void Set(string phase, long current, string? message) =>
            op.Report(new ProgressItem(Id(w.Item), w.Item.Tier, phase, current, 1) { Message = message }, always: true);
        void Add(List<DrainItem> list, DrainItem item)
        {
            lock (moved)
            {
                list.Add(item);
            }
        }
        try
        {
            await gate.WaitAsync(ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            Set("not-started", 0, "the drain was cancelled before this move started; it stays on the node");
            return;
        }
        try
        {
            if (ct.IsCancellationRequested)
            {
                Set("not-started", 0, "the drain was cancelled before this move started; it stays on the node");
                return;
            }
            using var client = new StrataClient(ClusterPeer.ClientOptionsFor(source, cluster.Token, w.Item.Project));
            OperationInfo move;
            try
            {
                move = await client.MoveAsync(w.Item.Name, new MoveRequest { Node = w.Target }, CancellationToken.None).ConfigureAwait(false);
            }
            catch (StrataApiException e) when (e.Kind == ErrorKind.InvalidArgument)
            {
                Set("not-movable", 0, e.Message);
                Add(notMovable, w.Item with { Reason = e.Message });
                return;
            }
            Set("moving", 0, $"to {w.Target}");
            var cancelSent = false;
            var started = DateTime.UtcNow;
            while (!OperationStatusNames.IsFinished(move.Status))
            {
                if (ct.IsCancellationRequested && !cancelSent)
                {
                    cancelSent = true;
                    move = await client.CancelOperationAsync(move.Id, CancellationToken.None).ConfigureAwait(false);
                    continue;
                }
                if (DateTime.UtcNow - started > MoveLimit && !cancelSent)
                {
                    cancelSent = true;
                    await client.CancelOperationAsync(move.Id, CancellationToken.None).ConfigureAwait(false);
                }
                move = await client.WaitOperationAsync(move.Id, TimeSpan.FromMilliseconds(500), CancellationToken.None).ConfigureAwait(false);
                if (move.Progress.Message is { } progress && !OperationStatusNames.IsFinished(move.Status))
                {
                    Set("moving", 0, $"to {w.Target}: {progress}");
                }
            }
            switch (move.Status)
            {
                case OperationStatusNames.Succeeded:
                    Set("moved", 1, $"to {w.Target}");
                    Add(moved, w.Item with { To = w.Target });
                    break;
                case OperationStatusNames.Cancelled:
                    var why = ct.IsCancellationRequested ? "the drain was cancelled; the move was undone and it stays on the node"
                        : $"the move did not finish within {MoveLimit.TotalMinutes:0} minutes and was undone; it stays on the node";
                    Set("cancelled", 0, why);
                    Add(failed, w.Item with { To = w.Target, Reason = why });
                    break;
                default:
                    var error = move.Error?.Detail ?? move.Status;
                    Set("failed", 0, error);
                    Add(failed, w.Item with { To = w.Target, Reason = error });
                    break;
            }
        }
        catch (Exception e) when (e is StrataApiException or HttpRequestException or DaemonUnreachableException)
        {
            Set("failed", 0, e.Message);
            Add(failed, w.Item with { To = w.Target, Reason = e.Message });
        }
        finally
        {
            gate.Release();
        }
    }
}
