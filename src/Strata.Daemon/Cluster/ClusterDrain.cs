using Strata.Client;
using Strata.Cluster;
using Strata.Contracts;

namespace Strata.Daemon.Cluster;

/// <summary>One instance a drain dealt with: moved (to a node), failed, or not movable, with the reason.</summary>
public sealed record DrainItem(string Project, string Name, string Tier, string? To = null, string? Reason = null);

/// <summary>What <c>strata node drain</c> did with the instances assigned to the node.</summary>
public sealed record DrainResult
{
    public IReadOnlyList<DrainItem> Moved { get; init; } = [];
    public IReadOnlyList<DrainItem> Failed { get; init; } = [];
    public IReadOnlyList<DrainItem> NotMovable { get; init; } = [];
}

/// <summary>
/// <c>strata node drain NODE</c> after the flag is set: every instance assigned to the node moves to another node by
/// name (<see cref="ClusterMove"/>, cold), <c>parallel</c> at a time, the target being the eligible node (online, not
/// draining, offering the tier) with the most free memory left after what this drain already sent there. Each move
/// is asked of the drained node with the cluster token, exactly as a relayed <c>strata move --node</c>.
/// </summary>
public static class ClusterDrain
{
    private static readonly HashSet<string> ColdTiers = ["container", "wasm", "process"];

    public static async Task<DrainResult> DrainAsync(ClusterNode cluster, string node, int parallel, CancellationToken ct)
    {
        var nodes = await ClusterView.NodesAsync(cluster.Etcd, ct).ConfigureAwait(false);
        var drained = nodes.FirstOrDefault(n => n.Name == node)
            ?? throw StrataException.NotFound($"node '{node}' is not in the cluster (strata node ls lists them)");
        var assigned = await cluster.Etcd.GetPrefixAsync(ClusterKeys.AssignmentsOf(node), ct: ct).ConfigureAwait(false);
        var moved = new List<DrainItem>();
        var failed = new List<DrainItem>();
        var notMovable = new List<DrainItem>();
        var planned = new Dictionary<string, long>(StringComparer.Ordinal);
        var work = new List<(DrainItem Item, string Target)>();
        foreach (var kv in assigned.Kvs)
        {
            var (project, name) = ClusterKeys.ProjectAndName(ClusterCodec.Key(kv));
            var instance = await cluster.Instances.GetAsync(project, name, ct).ConfigureAwait(false);
            if (instance is null)
            {
                continue;
            }
            var d = instance.Desired;
            var item = new DrainItem(project, name, d.Tier);
            if (drained.Record is null)
            {
                notMovable.Add(item with { Reason = $"node {node} is offline: its instances are placed again elsewhere by the cluster (restart always, stateless) or wait for it" });
                continue;
            }
            if (!ColdTiers.Contains(d.Tier))
            {
                notMovable.Add(item with { Reason = $"the {d.Tier} tier does not move by node name yet (cold moves: container, wasm, process; see docs/move.md)" });
                continue;
            }
            var target = nodes
                .Where(n => n.Name != node && n.Record is not null && !n.Settings.Draining && n.Record.Tiers.Any(t => t.Tier == d.Tier))
                .OrderByDescending(n => (n.Record!.Free?.MemoryBytes ?? 0) - planned.GetValueOrDefault(n.Name))
                .ThenBy(n => n.Name, StringComparer.Ordinal)
                .FirstOrDefault();
            if (target is null)
            {
                notMovable.Add(item with { Reason = $"no other node is online, not draining and offers the {d.Tier} tier" });
                continue;
            }
            planned[target.Name] = planned.GetValueOrDefault(target.Name) + d.Resources.MemoryBytes;
            work.Add((item, target.Name));
        }
        using var gate = new SemaphoreSlim(Math.Max(1, parallel));
        var address = new Uri("http://" + drained.Record?.Address);
        await Task.WhenAll(work.Select(async w =>
        {
            await gate.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                using var client = new StrataClient(new ClientOptions { Host = address, Token = cluster.Token, Project = w.Item.Project });
                var op = await client.MoveAsync(w.Item.Name, new MoveRequest { Node = w.Target }, ct).ConfigureAwait(false);
                var done = await client.WaitOperationAsync(op.Id, TimeSpan.FromMinutes(10), ct).ConfigureAwait(false);
                lock (moved)
                {
                    (done.Status == OperationStatusNames.Succeeded ? moved : failed).Add(done.Status == OperationStatusNames.Succeeded
                        ? w.Item with { To = w.Target }
                        : w.Item with { To = w.Target, Reason = done.Error?.Detail ?? done.Status });
                }
            }
            catch (Exception e) when (e is StrataApiException or HttpRequestException or DaemonUnreachableException)
            {
                lock (moved)
                {
                    failed.Add(w.Item with { To = w.Target, Reason = e.Message });
                }
            }
            finally
            {
                gate.Release();
            }
        })).ConfigureAwait(false);
        return new DrainResult { Moved = moved, Failed = failed, NotMovable = notMovable };
    }
}
