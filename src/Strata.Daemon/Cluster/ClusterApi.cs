using System.Globalization;
using System.Text;
using System.Text.Json;
using Strata.Cluster;
using Strata.Cluster.Etcd;
using Strata.Contracts;
using Strata.Daemon.Api;
using Strata.Scheduler;

namespace Strata.Daemon.Cluster;

/// <summary>
/// The API in cluster mode. Instance create, list, inspect and remove are answered from etcd on any node (the
/// caller's project only); <c>/v1/cluster/…</c> shows and changes nodes (host administrators). Requests about
/// one instance that only its node can answer (logs, exec, console, stop…) go to the local handlers when the
/// instance runs here, and are relayed to the owning node otherwise (<see cref="NodeForwarder"/>). etcd without
/// quorum is a 503 naming etcd.
/// </summary>
public static class ClusterApi
{
    public static async Task Middleware(HttpContext http, RequestDelegate next)
    {
        var cluster = http.RequestServices.GetService<ClusterNode>();
        var path = http.Request.Path.Value ?? "";
        if (cluster is null || !(path.StartsWith("/v1/instances", StringComparison.Ordinal) || path.StartsWith("/v1/cluster", StringComparison.Ordinal)
            || path == "/v1/operations" || path.StartsWith("/v1/operations/", StringComparison.Ordinal)))
        {
            await next(http).ConfigureAwait(false);
            return;
        }
        try
        {
            if (!await HandleAsync(http, cluster, path.TrimEnd('/')).ConfigureAwait(false))
            {
                await next(http).ConfigureAwait(false);
            }
        }
        catch (EtcdUnavailableException e)
        {
            throw new StrataException(ErrorKind.Unavailable, e.Message, inner: e);
        }
    }

    private static async Task<bool> HandleAsync(HttpContext http, ClusterNode cluster, string path)
    {
        var method = http.Request.Method;
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries); // v1, instances|cluster, …
        var ct = http.RequestAborted;
        if (parts[1] == "operations")
        {
            return await OperationRelay.TryRelayAsync(http, cluster, parts, ct).ConfigureAwait(false);
        }
        if (parts[1] == "instances")
        {
            var project = InstanceEndpoints.Project(http);
            if (await ClusterMove.IsMoveTargetAsync(http, cluster, project, parts, ct).ConfigureAwait(false))
            {
                return false; // the source of a move by node name creating, switching in or undoing it here
            }
            switch (parts.Length, method)
            {
                case (2, "GET"):
                    if (await cluster.ListCache.ListAsync(project, ct).ConfigureAwait(false) is { } shaped)
                    {
                        await WriteList(http, shaped).ConfigureAwait(false);
                        return true;
                    }
                    var all = await cluster.Instances.ListAsync(project, ct).ConfigureAwait(false);
                    await Write(http, 200, new InstanceList([.. all.Select(ToInfo)]), StrataJsonContext.Default.InstanceList).ConfigureAwait(false);
                    return true;
                case (2, "POST"):
                    var request = await JsonSerializer.DeserializeAsync(http.Request.Body, StrataJsonContext.Default.CreateInstanceRequest, ct).ConfigureAwait(false)
                        ?? throw StrataException.Invalid("spec", "the body is empty");
                    var desired = Desired(project, request.Spec);
                    // Refused here, on any node, rather than by the owning node after the quota was counted and it was placed.
                    if (TierNames.TryParse(desired.Tier, out var tier))
                    {
                        var rules = http.RequestServices.GetRequiredService<Control.Projects.ProjectService>().Get(project).Restrictions;
                        Strata.Policy.Admission.ProjectAdmission.CheckRestrictions(project, rules, request.Spec, tier);
                    }
                    if (string.Equals(http.Request.Query["dryRun"], "true", StringComparison.OrdinalIgnoreCase))
                    {
                        await Write(http, 200, ToInfo(await DryRunAsync(cluster, desired, ct).ConfigureAwait(false)), StrataJsonContext.Default.InstanceInfo).ConfigureAwait(false);
                        return true;
                    }
                    var placed = await cluster.Instances.CreateAsync(desired, ct).ConfigureAwait(false);
                    var created = await cluster.Instances.GetAsync(project, placed.Name, ct).ConfigureAwait(false);
                    await Write(http, 201, ToInfo(created!), StrataJsonContext.Default.InstanceInfo).ConfigureAwait(false);
                    return true;
                case (3, "GET"):
                    var one = await cluster.Instances.GetAsync(project, parts[2], ct).ConfigureAwait(false)
                        ?? throw StrataException.NotFound($"instance '{parts[2]}' does not exist in project '{project}'");
                    await Write(http, 200, ToInfo(one), StrataJsonContext.Default.InstanceInfo).ConfigureAwait(false);
                    return true;
                case (3, "DELETE"):
                    await cluster.Instances.DeleteAsync(project, parts[2], ct).ConfigureAwait(false);
                    http.Response.StatusCode = 204;
                    return true;
                default:
                    if (parts.Length < 3)
                    {
                        return false;
                    }
                    var owner = await cluster.Instances.GetAsync(project, parts[2], ct).ConfigureAwait(false)
                        ?? throw StrataException.NotFound($"instance '{parts[2]}' does not exist in project '{project}'");
                    if (owner.Desired.Node == cluster.Name)
                    {
                        return false; // runs here: the local handlers answer
                    }
                    var record = owner.Desired.Node is { } at
                        ? (await ClusterView.NodesAsync(cluster.Etcd, ct).ConfigureAwait(false)).FirstOrDefault(n => n.Name == at)?.Record
                        : null;
                    if (record is null || ClusterPeer.ForwardedBy(http) is not null)
                    {
                        // Not placed yet, its node offline, or sent here by another node that saw an older placement.
                        throw new StrataException(owner.Desired.Node is null ? ErrorKind.Conflict : ErrorKind.Unavailable,
                            owner.Desired.Node is null ? $"instance '{parts[2]}' is not placed on a node yet ({owner.Status}); try again in a moment"
                            : record is null ? $"instance '{parts[2]}' runs on node {owner.Desired.Node}, which is offline; it answers again when the node is back (strata node ls)"
                            : $"instance '{parts[2]}' runs on node {owner.Desired.Node}, not on {cluster.Name} (forwarded here by {ClusterPeer.ForwardedBy(http)}); try again");
                    }
                    await cluster.Forwarder.ForwardAsync(http, record, Caller.Of(http)).ConfigureAwait(false);
                    return true;
            }
        }
        // /v1/cluster…
        switch (parts.Length, method)
        {
            case (2, "GET"):
                await Write(http, 200, await StatusAsync(cluster, ct).ConfigureAwait(false), ClusterApiJson.Default.ClusterStatus).ConfigureAwait(false);
                return true;
            case (3, "GET") when parts[2] == "nodes":
                await Write(http, 200, (await StatusAsync(cluster, ct).ConfigureAwait(false)).Nodes.ToList(), ClusterApiJson.Default.ListClusterNodeInfo).ConfigureAwait(false);
                return true;
            case (4, "GET") when parts[2] == "nodes":
                var node = (await StatusAsync(cluster, ct).ConfigureAwait(false)).Nodes.FirstOrDefault(n => n.Name == parts[3])
                    ?? throw StrataException.NotFound($"node '{parts[3]}' is not in the cluster (strata node ls lists them)");
                await Write(http, 200, node, ClusterApiJson.Default.ClusterNodeInfo).ConfigureAwait(false);
                return true;
            case (5, "POST") when parts[2] == "nodes" && parts[4] is "drain" or "undrain" or "labels":
                NodeLabelRequest? labels = parts[4] == "labels"
                    ? await JsonSerializer.DeserializeAsync(http.Request.Body, ClusterApiJson.Default.NodeLabelRequest, ct).ConfigureAwait(false)
                    : null;
                await ChangeNodeAsync(cluster, parts[3], s => parts[4] switch
                {
                    "drain" => s with { Draining = true },
                    "undrain" => s with { Draining = false },
                    _ => s with { Labels = Merge(s.Labels, labels?.Labels ?? throw StrataException.Invalid("labels", "give labels to set")) },
                }, ct).ConfigureAwait(false);
                if (parts[4] == "drain")
                {
                    // The flag is set; moving the instances off is an operation (progress, cancel) of the caller's project.
                    var operation = await ClusterDrain.StartAsync(cluster, http.RequestServices.GetRequiredService<Control.Operations.OperationRegistry>(),
                        InstanceEndpoints.Project(http), parts[3], ParallelOf(http), ct).ConfigureAwait(false);
                    await Write(http, 202, operation.ToInfo(), StrataJsonContext.Default.OperationInfo).ConfigureAwait(false);
                    return true;
                }
                var changed = (await StatusAsync(cluster, ct).ConfigureAwait(false)).Nodes.First(n => n.Name == parts[3]);
                await Write(http, 200, changed, ClusterApiJson.Default.ClusterNodeInfo).ConfigureAwait(false);
                return true;
            default:
                return false;
        }
    }

    /// <summary><c>?parallel=N</c> of a drain: moves at a time (default 2, 1–16).</summary>
    private static int ParallelOf(HttpContext http) =>
        int.TryParse(http.Request.Query["parallel"], CultureInfo.InvariantCulture, out var n)
            ? n is >= 1 and <= 16 ? n : throw StrataException.Invalid("parallel", $"{n} is not a number of moves at a time from 1 to 16")
            : 2;

    private static async Task<ClusterStatus> StatusAsync(ClusterNode cluster, CancellationToken ct)
    {
        var nodes = await ClusterView.NodesAsync(cluster.Etcd, ct).ConfigureAwait(false);
        var placed = await ClusterView.PlacedAsync(cluster.Etcd, ct).ConfigureAwait(false);
        var leader = await cluster.Etcd.LeaderAsync(ClusterKeys.Election, ct).ConfigureAwait(false);
        return new ClusterStatus
        {
            Node = cluster.Name,
            Leader = leader,
            Etcd = [.. cluster.Etcd.Members.Select(m => m.Authority)],
            Nodes = [.. nodes.Select(n => new ClusterNodeInfo
            {
                Name = n.Name,
                Status = n.Status,
                Address = n.Record?.Address,
                Capacity = n.Record?.Capacity,
                Free = n.Record?.Free,
                Tiers = n.Record?.Tiers ?? [],
                Arch = n.Record?.Arch,
                Cpu = n.Record?.Cpu,
                Labels = n.Settings.Labels,
                OfflineSince = n.Settings.OfflineSince,
                Instances = placed.GetValueOrDefault(n.Name)?.Count ?? 0,
                Leader = n.Name == leader,
            })],
            ReplacementsFrozen = cluster.Leader.Monitor.Frozen,
            CpuBaseline = ClusterNode.Baseline(nodes),
            Events = [.. (await ClusterEvents.ListAsync(cluster.Etcd, ct).ConfigureAwait(false)).TakeLast(20)],
        };
    }

    private static async Task ChangeNodeAsync(ClusterNode cluster, string name, Func<NodeSettings, NodeSettings> change, CancellationToken ct)
    {
        while (true)
        {
            var r = await cluster.Etcd.GetAsync(ClusterKeys.Settings(name), ct).ConfigureAwait(false);
            var kv = r.Kvs.FirstOrDefault() ?? throw StrataException.NotFound($"node '{name}' is not in the cluster (strata node ls lists them)");
            var txn = new Etcdserverpb.TxnRequest();
            txn.Compare.Add(ClusterCodec.ModRevisionIs(ClusterKeys.Settings(name), kv.ModRevision));
            txn.Success.Add(ClusterCodec.Put(ClusterKeys.Settings(name), ClusterCodec.Encode(change(ClusterCodec.Decode(kv, ClusterJson.Default.NodeSettings)), ClusterJson.Default.NodeSettings)));
            if ((await cluster.Etcd.TxnAsync(txn, ct).ConfigureAwait(false)).Succeeded)
            {
                return;
            }
        }
    }

    private static Dictionary<string, string> Merge(IReadOnlyDictionary<string, string> current, IReadOnlyDictionary<string, string?> changes)
    {
        var merged = new Dictionary<string, string>(current, StringComparer.Ordinal);
        foreach (var (k, v) in changes)
        {
            if (v is null)
            {
                merged.Remove(k);
            }
            else
            {
                merged[k] = v;
            }
        }
        return merged;
    }

    /// <summary>Where the scheduler would put it now, and why, without admitting or placing anything.</summary>
    private static async Task<ClusterInstance> DryRunAsync(ClusterNode cluster, DesiredInstance d, CancellationToken ct)
    {
        var nodes = await ClusterView.NodesAsync(cluster.Etcd, ct).ConfigureAwait(false);
        var loads = await ClusterView.LoadsAsync(cluster.Etcd, ct).ConfigureAwait(false);
        var placed = d.AntiAffinityGroup is null && loads.Values.All(l => l.Instances.Count == 0) ? null : await ClusterView.PlacedAsync(cluster.Etcd, ct).ConfigureAwait(false);
        var outcome = new Strata.Scheduler.Scheduler().Place(ClusterView.Snapshot(nodes, placed, loads: loads), ClusterView.Request(d, null), seed: 1);
        return new ClusterInstance(d with { Node = outcome.Node, Why = outcome.Explanation, Error = outcome.Node is null ? outcome.Explanation.Error : null }, null, "dry-run", 0);
    }

    /// <summary>The cluster's record of a create request. The tier must be named (the advisor runs per node).</summary>
    private static DesiredInstance Desired(string project, InstanceSpec spec)
    {
        var name = spec.Name is { Length: > 0 } n ? n : throw StrataException.Invalid("name", "a cluster instance needs a name");
        var tier = spec.Tier is { Length: > 0 } t && t != "auto" ? t
            : throw StrataException.Invalid("tier", "in a cluster, name the tier (--tier container, wasm, fake…); the advisor's choice depends on the node");
        var labels = spec.Labels ?? new Dictionary<string, string>();
        var stateful = (spec.Mounts?.Count ?? 0) > 0 || tier is "vm" or "sandbox";
        return new DesiredInstance
        {
            Project = project,
            Name = name,
            Tier = tier,
            Resources = ResourceAmounts.ForLimits(spec.Resources),
            Spec = JsonSerializer.Serialize(spec, StrataJsonContext.Default.InstanceSpec),
            Restart = spec.Restart,
            Stateless = !stateful,
            PinnedNode = labels.GetValueOrDefault("strata.cluster/node"),
            Constraints = [.. labels.Where(l => l.Key.StartsWith("strata.cluster/constraint", StringComparison.Ordinal)).Select(l => l.Value)],
            AntiAffinityGroup = labels.GetValueOrDefault("strata.cluster/anti-affinity"),
            AntiAffinityHard = labels.GetValueOrDefault("strata.cluster/anti-affinity-mode") != "soft",
        };
    }

    /// <summary>One instance as the API shows it, serialized once for the list cache.</summary>
    public static byte[] Shape(ClusterInstance i) => JsonSerializer.SerializeToUtf8Bytes(ToInfo(i), StrataJsonContext.Default.InstanceInfo);

    /// <summary>An <see cref="InstanceList"/> written from instances the cache already serialized.</summary>
    private static async Task WriteList(HttpContext http, IReadOnlyList<byte[]> items)
    {
        http.Response.StatusCode = 200;
        http.Response.ContentType = "application/json";
        var json = new Utf8JsonWriter(http.Response.BodyWriter);
        await using (json.ConfigureAwait(false))
        {
            json.WriteStartObject();
            json.WritePropertyName(ItemsProperty);
            json.WriteStartArray();
            foreach (var item in items)
            {
                json.WriteRawValue(item, skipInputValidation: true);
                if (json.BytesPending > 1 << 16)
                {
                    await json.FlushAsync(http.RequestAborted).ConfigureAwait(false);
                }
            }
            json.WriteEndArray();
            json.WriteEndObject();
            await json.FlushAsync(http.RequestAborted).ConfigureAwait(false);
        }
    }

    /// <summary>The name <see cref="InstanceList.Items"/> has in JSON, as the API's serializer writes it.</summary>
    private static readonly string ItemsProperty = StrataJsonContext.Default.Options.PropertyNamingPolicy?.ConvertName(nameof(InstanceList.Items)) ?? nameof(InstanceList.Items);

    private static InstanceInfo ToInfo(ClusterInstance i)
    {
        var d = i.Desired;
        var spec = (d.Spec is { } json ? JsonSerializer.Deserialize(json, StrataJsonContext.Default.InstanceSpec) : null) ?? new InstanceSpec { Name = d.Name, Tier = d.Tier };
        var details = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["node"] = d.Node ?? "-",
            ["generation"] = d.Generation.ToString(CultureInfo.InvariantCulture),
        };
        if (d.Why is { } why)
        {
            details["whyNode"] = WhyNode(why);
            details["whyNodeJson"] = JsonSerializer.Serialize(why, SchedulerJson.Default.PlacementExplanation);
        }
        if (d.Error is { } error)
        {
            details["error"] = error;
        }
        return new InstanceInfo
        {
            Id = d.Project + "/" + d.Name + "@" + d.Generation.ToString(CultureInfo.InvariantCulture),
            Name = d.Name,
            Project = d.Project,
            Tier = d.Tier,
            State = i.Status,
            Spec = spec,
            Reason = i.Report?.Error,
            CreatedAt = d.Created,
            StartedAt = d.Placed,
            Details = details,
        };
    }

    /// <summary>"Why this node" in one paragraph: the winner's plugin scores, the runners-up, the rejections.</summary>
    public static string WhyNode(PlacementExplanation why)
    {
        var sb = new StringBuilder();
        if (why.Error is { } error)
        {
            return error;
        }
        string Scores(CandidateScore c) => string.Join(", ", c.Scores.Select(s => string.Create(CultureInfo.InvariantCulture, $"{s.Plugin} {s.Score:0.#}×{s.Weight}")));
        var best = why.Candidates.FirstOrDefault();
        sb.Append(CultureInfo.InvariantCulture, $"node {why.Node} ({why.Algorithm}; {why.Feasible} of {why.Nodes} nodes feasible)");
        if (best is not null)
        {
            sb.Append(CultureInfo.InvariantCulture, $": score {best.Score:0.#} = {Scores(best)}");
        }
        foreach (var c in why.Candidates.Skip(1).Take(3))
        {
            sb.Append(CultureInfo.InvariantCulture, $"; {c.Node} {c.Score:0.#}");
        }
        foreach (var r in why.Rejected)
        {
            sb.Append(CultureInfo.InvariantCulture, $"; rejected {r.Count} by {r.Plugin} ({r.Reason})");
            if (r.Examples.Count > 0)
            {
                sb.Append(", e.g. ").Append(r.Examples[0]);
            }
        }
        return sb.ToString();
    }

    private static async Task Write<T>(HttpContext http, int status, T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
    {
        http.Response.StatusCode = status;
        http.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(http.Response.Body, value, type, http.RequestAborted).ConfigureAwait(false);
    }
}
