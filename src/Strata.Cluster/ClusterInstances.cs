using System.Text.Json;
using Etcdserverpb;
using Strata.Cluster.Etcd;
using Strata.Contracts;
using Strata.Policy.Admission;

namespace Strata.Cluster;

/// <summary>An instance as the cluster API shows it: what is desired, what its node reports, and the status that follows.</summary>
public sealed record ClusterInstance(DesiredInstance Desired, InstanceReport? Report, string Status, long Revision);

/// <summary>
/// The cluster's instance operations, usable from any node: admission (quota checked and counted in one etcd
/// transaction, cluster-wide), waiting for the leader's placement, reads and deletion. Placing is the scheduler
/// leader's job (<see cref="SchedulerLeader"/>); running is the owning node's (<see cref="NodeAgent"/>).
/// </summary>
public sealed partial class ClusterInstances(EtcdConnection etcd, ClusterOptions options)
{
    private readonly AdmissionBatcher _batcher = new(etcd, options.AdmissionBatch);

    public EtcdConnection Etcd => etcd;

    /// <summary>
    /// Admits <paramref name="d"/>: fails when the name is taken or the project's quota would be exceeded, otherwise
    /// counts it against the quota and queues it for the scheduler, atomically (usage and queue in one transaction,
    /// fenced on the usage record's revision, retried when another admission got there first). Admissions of one
    /// project on this node share transactions (<see cref="AdmissionBatcher"/>) unless
    /// <see cref="ClusterOptions.AdmissionBatch"/> is 1. Returns the etcd revision of the admission.
    /// </summary>
    public Task<long> AdmitAsync(DesiredInstance d, CancellationToken ct = default) =>
        options.AdmissionBatch > 1 ? _batcher.AdmitAsync(d, ct) : AdmitAloneAsync(d, ct);

    /// <summary>One admission, one transaction: the path without group commit (and the benchmark's baseline).</summary>
    private async Task<long> AdmitAloneAsync(DesiredInstance d, CancellationToken ct)
    {
        var instanceKey = ClusterKeys.Instance(d.Project, d.Name);
        var pendingKey = ClusterKeys.PendingOf(d.Project, d.Name);
        var usageKey = ClusterKeys.UsageOf(d.Project);
        var spec = SpecOf(d);
        for (var attempt = 0; ; attempt++)
        {
            var read = new TxnRequest();
            read.Success.Add(ClusterCodec.Get(ClusterKeys.Project(d.Project)));
            read.Success.Add(ClusterCodec.Get(usageKey));
            read.Success.Add(ClusterCodec.Get(instanceKey));
            read.Success.Add(ClusterCodec.Get(pendingKey));
            var r = await etcd.TxnAsync(read, ct).ConfigureAwait(false);
            if (r.Responses[2].ResponseRange.Kvs.Count > 0 || r.Responses[3].ResponseRange.Kvs.Count > 0)
            {
                throw StrataException.Conflict($"instance '{d.Name}' already exists in project '{d.Project}'; pick another name or remove it (strata rm {d.Name})");
            }
            var projectKv = r.Responses[0].ResponseRange.Kvs.FirstOrDefault();
            var project = projectKv is null ? null : ClusterCodec.Decode(projectKv, ClusterJson.Default.ClusterProject);
            if (project is null && d.Project != "default")
            {
                throw StrataException.NotFound($"project '{d.Project}' does not exist in the cluster; create it first (strata project create {d.Project})");
            }
            var usageKv = r.Responses[1].ResponseRange.Kvs.FirstOrDefault();
            var usage = usageKv is null ? new ProjectUsage() : ClusterCodec.Decode(usageKv, ClusterJson.Default.ProjectUsage);
            if (project?.Quota is { } quota)
            {
                ProjectAdmission.CheckQuota(d.Project, quota, usage, spec);
            }
            var admitted = d with { Generation = 0, Node = null, Error = null, Created = DateTimeOffset.UtcNow };
            var txn = new TxnRequest();
            txn.Compare.Add(ClusterCodec.ModRevisionIs(usageKey, usageKv?.ModRevision ?? 0));
            txn.Compare.Add(ClusterCodec.Absent(instanceKey));
            txn.Compare.Add(ClusterCodec.Absent(pendingKey));
            if (projectKv is not null)
            {
                txn.Compare.Add(ClusterCodec.ModRevisionIs(projectKv.Key.ToStringUtf8(), projectKv.ModRevision));
            }
            txn.Success.Add(ClusterCodec.Put(usageKey, ClusterCodec.Encode(ProjectAdmission.Add(usage, spec), ClusterJson.Default.ProjectUsage)));
            txn.Success.Add(ClusterCodec.Put(pendingKey, ClusterCodec.Encode(admitted, ClusterJson.Default.DesiredInstance)));
            var w = await etcd.TxnAsync(txn, ct).ConfigureAwait(false);
            if (w.Succeeded)
            {
                return w.Header.Revision;
            }
            // Another admission or deletion changed the usage first: read again (with a little jitter under contention).
            if (attempt > 3)
            {
                await Task.Delay(Random.Shared.Next(1, 5 + Math.Min(attempt, 50)), ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Admits and waits until the leader has placed the instance (its record names a node), or says why no node
    /// could take it. A refused placement releases the quota and leaves nothing behind.
    /// </summary>
    public async Task<DesiredInstance> CreateAsync(DesiredInstance d, CancellationToken ct = default)
    {
        var revision = await AdmitAsync(d, ct).ConfigureAwait(false);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(options.PlacementTimeout);
        var key = ClusterKeys.Instance(d.Project, d.Name);
        try
        {
            // Already placed (a fast leader) or placed while the watch opens: read first, then watch from that revision.
            var now = await etcd.GetAsync(key, timeout.Token).ConfigureAwait(false);
            if (now.Kvs.Count > 0)
            {
                return await SettleAsync(ClusterCodec.Decode(now.Kvs[0], ClusterJson.Default.DesiredInstance), now.Kvs[0].ModRevision, ct).ConfigureAwait(false);
            }
            await foreach (var batch in etcd.WatchPrefixAsync(key, Math.Max(revision, now.Header.Revision), timeout.Token).ConfigureAwait(false))
            {
                foreach (var e in batch.Events)
                {
                    if (e.Type == Mvccpb.Event.Types.EventType.Put && ClusterCodec.Key(e.Kv) == key)
                    {
                        return await SettleAsync(ClusterCodec.Decode(e.Kv, ClusterJson.Default.DesiredInstance), e.Kv.ModRevision, ct).ConfigureAwait(false);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
        }
        throw new StrataException(ErrorKind.Unavailable,
            $"instance '{d.Name}' was admitted but no scheduler placed it within {options.PlacementTimeout.TotalSeconds:0} s; " +
            "is a scheduler leader elected? (strata cluster status). It stays queued and is placed when one leads; strata rm removes it");
    }

    private async Task<DesiredInstance> SettleAsync(DesiredInstance placed, long revision, CancellationToken ct)
    {
        if (placed.Node is not null)
        {
            return placed;
        }
        await RemoveUnplacedAsync(placed, revision, ct).ConfigureAwait(false);
        throw new StrataException(ErrorKind.Conflict, placed.Error ?? $"no node could take instance '{placed.Name}'");
    }

    /// <summary>Deletes an instance record no node took, and gives its share of the quota back.</summary>
    private async Task RemoveUnplacedAsync(DesiredInstance d, long revision, CancellationToken ct)
    {
        var key = ClusterKeys.Instance(d.Project, d.Name);
        while (true)
        {
            var (usage, usageRevision) = await UsageAsync(d.Project, ct).ConfigureAwait(false);
            var txn = new TxnRequest();
            txn.Compare.Add(ClusterCodec.ModRevisionIs(key, revision));
            txn.Compare.Add(ClusterCodec.ModRevisionIs(ClusterKeys.UsageOf(d.Project), usageRevision));
            txn.Success.Add(ClusterCodec.Delete(key));
            txn.Success.Add(ClusterCodec.Put(ClusterKeys.UsageOf(d.Project), ClusterCodec.Encode(Subtract(usage, SpecOf(d)), ClusterJson.Default.ProjectUsage)));
            txn.Failure.Add(ClusterCodec.Get(key));
            var r = await etcd.TxnAsync(txn, ct).ConfigureAwait(false);
            if (r.Succeeded || r.Responses[0].ResponseRange.Kvs.Count == 0 || r.Responses[0].ResponseRange.Kvs[0].ModRevision != revision)
            {
                return;
            }
        }
    }

    /// <summary>
    /// Removes an instance: its record, its assignment (its node's agent then stops and removes its copy), and its
    /// share of the quota and of the node's resources, in one transaction. Pending instances are removed before
    /// the leader places them (its commit, fenced on the pending key, then fails).
    /// </summary>
    public async Task DeleteAsync(string project, string name, CancellationToken ct = default)
    {
        var key = ClusterKeys.Instance(project, name);
        var pendingKey = ClusterKeys.PendingOf(project, name);
        while (true)
        {
            var read = new TxnRequest();
            read.Success.Add(ClusterCodec.Get(key));
            read.Success.Add(ClusterCodec.Get(pendingKey));
            read.Success.Add(ClusterCodec.Get(ClusterKeys.UsageOf(project)));
            var r = await etcd.TxnAsync(read, ct).ConfigureAwait(false);
            var kv = r.Responses[0].ResponseRange.Kvs.FirstOrDefault() ?? r.Responses[1].ResponseRange.Kvs.FirstOrDefault()
                ?? throw StrataException.NotFound($"instance '{name}' does not exist in project '{project}' (strata ps lists them)");
            var d = ClusterCodec.Decode(kv, ClusterJson.Default.DesiredInstance);
            var usageKv = r.Responses[2].ResponseRange.Kvs.FirstOrDefault();
            var usage = usageKv is null ? new ProjectUsage() : ClusterCodec.Decode(usageKv, ClusterJson.Default.ProjectUsage);
            var txn = new TxnRequest();
            txn.Compare.Add(ClusterCodec.ModRevisionIs(ClusterCodec.Key(kv), kv.ModRevision));
            txn.Compare.Add(ClusterCodec.ModRevisionIs(ClusterKeys.UsageOf(project), usageKv?.ModRevision ?? 0));
            txn.Success.Add(ClusterCodec.Delete(ClusterCodec.Key(kv)));
            txn.Success.Add(ClusterCodec.Put(ClusterKeys.UsageOf(project), ClusterCodec.Encode(Subtract(usage, SpecOf(d)), ClusterJson.Default.ProjectUsage)));
            if (d.Node is { } node)
            {
                txn.Success.Add(ClusterCodec.Delete(ClusterKeys.Assignment(node, project, name)));
                var nodeKv = (await etcd.GetAsync(ClusterKeys.Node(node), ct).ConfigureAwait(false)).Kvs.FirstOrDefault();
                if (nodeKv is not null)
                {
                    // Give the node its resources back, fenced like a placement.
                    var rec = ClusterCodec.Decode(nodeKv, ClusterJson.Default.NodeRecord);
                    txn.Compare.Add(ClusterCodec.ModRevisionIs(ClusterKeys.Node(node), nodeKv.ModRevision));
                    txn.Success.Add(ClusterCodec.PutKeepLease(ClusterKeys.Node(node), ClusterCodec.Encode(
                        rec with { Free = ResourceAmounts.From(rec.Free.ToResources() + d.Resources.ToResources()) }, ClusterJson.Default.NodeRecord)));
                }
            }
            if ((await etcd.TxnAsync(txn, ct).ConfigureAwait(false)).Succeeded)
            {
                return;
            }
        }
    }

    /// <summary>One instance of <paramref name="project"/>, or null. Another project's instance of the same name is not visible.</summary>
    public async Task<ClusterInstance?> GetAsync(string project, string name, CancellationToken ct = default)
    {
        var read = new TxnRequest();
        read.Success.Add(ClusterCodec.Get(ClusterKeys.Instance(project, name)));
        read.Success.Add(ClusterCodec.Get(ClusterKeys.PendingOf(project, name)));
        var r = await etcd.TxnAsync(read, ct).ConfigureAwait(false);
        var kv = r.Responses[0].ResponseRange.Kvs.FirstOrDefault() ?? r.Responses[1].ResponseRange.Kvs.FirstOrDefault();
        if (kv is null)
        {
            return null;
        }
        var d = ClusterCodec.Decode(kv, ClusterJson.Default.DesiredInstance);
        var nodes = await ClusterView.NodesAsync(etcd, ct).ConfigureAwait(false);
        InstanceReport? report = null;
        if (d.Node is { } node)
        {
            var s = await etcd.GetAsync(ClusterKeys.State(node, project, name), ct).ConfigureAwait(false);
            report = s.Kvs.Count > 0 ? ClusterCodec.Decode(s.Kvs[0], ClusterJson.Default.InstanceReport) : null;
        }
        return new ClusterInstance(d, report, StatusOf(d, report, nodes), kv.ModRevision);
    }

    /// <summary>Every instance of <paramref name="project"/> (placed or pending), with what their nodes report.</summary>
    public async Task<IReadOnlyList<ClusterInstance>> ListAsync(string project, CancellationToken ct = default)
    {
        var placed = await etcd.GetPrefixAsync(ClusterKeys.InstancesOf(project), ct: ct, timeout: TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        var pending = await etcd.GetPrefixAsync(ClusterKeys.Pending + project + "/", ct: ct).ConfigureAwait(false);
        var states = await etcd.GetPrefixAsync(ClusterKeys.States, ct: ct, timeout: TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        var nodes = await ClusterView.NodesAsync(etcd, ct).ConfigureAwait(false);
        var reports = new Dictionary<string, InstanceReport>(StringComparer.Ordinal);
        foreach (var kv in states.Kvs)
        {
            var key = ClusterCodec.Key(kv);
            var (p, _) = ClusterKeys.ProjectAndName(key);
            if (p == project)
            {
                reports[key] = ClusterCodec.Decode(kv, ClusterJson.Default.InstanceReport);
            }
        }
        var list = new List<ClusterInstance>();
        foreach (var kv in placed.Kvs.Concat(pending.Kvs))
        {
            var d = ClusterCodec.Decode(kv, ClusterJson.Default.DesiredInstance);
            var report = d.Node is { } n ? reports.GetValueOrDefault(ClusterKeys.State(n, project, d.Name)) : null;
            list.Add(new ClusterInstance(d, report, StatusOf(d, report, nodes), kv.ModRevision));
        }
        return list;
    }

    /// <summary>
    /// pending (not placed yet), failed (no node could take it), lost (its node is offline), starting (placed, its
    /// node has not reported this generation yet), or what the node reports.
    /// </summary>
    public static string StatusOf(DesiredInstance d, InstanceReport? report, IReadOnlyList<NodeView> nodes) =>
        StatusOf(d, report, node => nodes.Any(n => n.Name == node && n.Online));

    /// <summary>The same, with <paramref name="online"/> saying whether a node holds a live record.</summary>
    public static string StatusOf(DesiredInstance d, InstanceReport? report, Func<string, bool> online)
    {
        if (d.Node is null)
        {
            return d.Error is null ? "pending" : "failed";
        }
        if (!online(d.Node))
        {
            return "lost";
        }
        return report is null || report.Generation != d.Generation ? "starting" : report.State;
    }

    public async Task<(ProjectUsage Usage, long Revision)> UsageAsync(string project, CancellationToken ct = default)
    {
        var r = await etcd.GetAsync(ClusterKeys.UsageOf(project), ct).ConfigureAwait(false);
        return r.Kvs.Count == 0 ? (new ProjectUsage(), 0) : (ClusterCodec.Decode(r.Kvs[0], ClusterJson.Default.ProjectUsage), r.Kvs[0].ModRevision);
    }

    /// <summary>The spec the quota counts: the stored one, or one with just the resources.</summary>
    public static InstanceSpec SpecOf(DesiredInstance d) =>
        (d.Spec is { } json ? JsonSerializer.Deserialize(json, StrataJsonContext.Default.InstanceSpec) : null)
        ?? new InstanceSpec
        {
            Name = d.Name,
            Resources = new ResourceSpec { Cpus = d.Resources.CpuMillis / 1000.0, MemoryBytes = d.Resources.MemoryBytes, DiskBytes = d.Resources.DiskBytes, Pids = d.Resources.Pids },
        };

    private static ProjectUsage Subtract(ProjectUsage u, InstanceSpec spec) => new()
    {
        Instances = Math.Max(0, u.Instances - 1),
        Cpus = Math.Max(0, u.Cpus - (spec.Resources?.Cpus ?? 0)),
        MemoryBytes = Math.Max(0, u.MemoryBytes - (spec.Resources?.MemoryBytes ?? 0)),
        Pids = Math.Max(0, u.Pids - (spec.Resources?.Pids ?? 0)),
        DiskBytes = Math.Max(0, u.DiskBytes - (spec.Resources?.DiskBytes ?? 0)),
    };
}
