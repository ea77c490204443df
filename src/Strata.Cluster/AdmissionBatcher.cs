using System.Collections.Concurrent;
using Etcdserverpb;
using Strata.Cluster.Etcd;
using Strata.Contracts;
using Strata.Policy.Admission;

namespace Strata.Cluster;

/// <summary>
/// Group commit of one node's admissions: the admissions of a project that arrive while a transaction of that
/// project is in flight wait, and the next transaction takes them together (up to <c>maxBatch</c>). One read
/// sees the project, its usage and whether each name is free; the quota is counted admission by admission in
/// arrival order; one write puts every pending record and the new usage, fenced on the usage record's and the
/// project's mod revisions and on each name being free. A failed fence (another node's batch, a deletion) reads
/// again, so the quota holds exactly across any number of nodes, and a project's admissions no longer serialise
/// one round trip each.
/// </summary>
internal sealed class AdmissionBatcher(EtcdConnection etcd, int maxBatch)
{
    private readonly ConcurrentDictionary<string, ProjectQueue> _queues = new(StringComparer.Ordinal);

    public Task<long> AdmitAsync(DesiredInstance d, CancellationToken ct)
    {
        var waiting = new Waiting(d, ct);
        var queue = _queues.GetOrAdd(d.Project, _ => new ProjectQueue());
        bool start;
        lock (queue)
        {
            queue.Items.Add(waiting);
            start = !queue.Running;
            queue.Running = true;
        }
        if (start)
        {
            _ = Task.Run(() => DrainAsync(queue));
        }
        // Not cancelled by ct once sent: the caller learns whether it was admitted. Still queued, it is dropped.
        return waiting.Done.Task;
    }

    private async Task DrainAsync(ProjectQueue queue)
    {
        while (true)
        {
            var batch = new List<Waiting>();
            lock (queue)
            {
                var names = new HashSet<string>(StringComparer.Ordinal);
                for (var i = 0; i < queue.Items.Count && batch.Count < maxBatch;)
                {
                    var w = queue.Items[i];
                    if (w.Ct.IsCancellationRequested)
                    {
                        w.Done.TrySetCanceled(w.Ct);
                        queue.Items.RemoveAt(i);
                    }
                    else if (names.Add(w.Desired.Name))
                    {
                        batch.Add(w);
                        queue.Items.RemoveAt(i);
                    }
                    else
                    {
                        i++; // the same name twice: the later one waits for the next batch (and then finds it taken)
                    }
                }
                if (batch.Count == 0)
                {
                    queue.Running = false;
                    return;
                }
            }
            try
            {
                await CommitAsync(batch).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                batch.ForEach(w => w.Done.TrySetException(e));
            }
        }
    }

    private async Task CommitAsync(List<Waiting> batch)
    {
        var projectName = batch[0].Desired.Project;
        var usageKey = ClusterKeys.UsageOf(projectName);
        for (var attempt = 0; ; attempt++)
        {
            batch.RemoveAll(w => w.Ct.IsCancellationRequested && w.Done.TrySetCanceled(w.Ct));
            if (batch.Count == 0)
            {
                return;
            }
            var read = new TxnRequest();
            read.Success.Add(ClusterCodec.Get(ClusterKeys.Project(projectName)));
            read.Success.Add(ClusterCodec.Get(usageKey));
            foreach (var w in batch)
            {
                read.Success.Add(Exists(ClusterKeys.Instance(projectName, w.Desired.Name)));
                read.Success.Add(Exists(ClusterKeys.PendingOf(projectName, w.Desired.Name)));
            }
            var r = await etcd.TxnAsync(read).ConfigureAwait(false);
            var projectKv = r.Responses[0].ResponseRange.Kvs.FirstOrDefault();
            var project = projectKv is null ? null : ClusterCodec.Decode(projectKv, ClusterJson.Default.ClusterProject);
            if (project is null && projectName != "default")
            {
                var missing = StrataException.NotFound($"project '{projectName}' does not exist in the cluster; create it first (strata project create {projectName})");
                batch.ForEach(w => w.Done.TrySetException(missing));
                return;
            }
            var usageKv = r.Responses[1].ResponseRange.Kvs.FirstOrDefault();
            var usage = usageKv is null ? new ProjectUsage() : ClusterCodec.Decode(usageKv, ClusterJson.Default.ProjectUsage);
            var admitted = new List<Waiting>();
            var refused = new List<(Waiting, StrataException)>();
            for (var i = 0; i < batch.Count; i++)
            {
                var w = batch[i];
                if (r.Responses[2 + 2 * i].ResponseRange.Count > 0 || r.Responses[3 + 2 * i].ResponseRange.Count > 0)
                {
                    w.Done.TrySetException(StrataException.Conflict(
                        $"instance '{w.Desired.Name}' already exists in project '{projectName}'; pick another name or remove it (strata rm {w.Desired.Name})"));
                    continue;
                }
                if (project?.Quota is { } quota)
                {
                    try
                    {
                        ProjectAdmission.CheckQuota(projectName, quota, usage, w.Spec);
                    }
                    catch (StrataException e)
                    {
                        refused.Add((w, e)); // told only once the batch's usage is committed: a retry may count differently
                        continue;
                    }
                }
                usage = ProjectAdmission.Add(usage, w.Spec);
                admitted.Add(w);
            }
            if (admitted.Count == 0)
            {
                refused.ForEach(x => x.Item1.Done.TrySetException(x.Item2));
                return;
            }
            var txn = new TxnRequest();
            txn.Compare.Add(ClusterCodec.ModRevisionIs(usageKey, usageKv?.ModRevision ?? 0));
            if (projectKv is not null)
            {
                txn.Compare.Add(ClusterCodec.ModRevisionIs(ClusterKeys.Project(projectName), projectKv.ModRevision));
            }
            txn.Success.Add(ClusterCodec.Put(usageKey, ClusterCodec.Encode(usage, ClusterJson.Default.ProjectUsage)));
            var now = DateTimeOffset.UtcNow;
            foreach (var w in admitted)
            {
                txn.Compare.Add(ClusterCodec.Absent(ClusterKeys.Instance(projectName, w.Desired.Name)));
                txn.Compare.Add(ClusterCodec.Absent(ClusterKeys.PendingOf(projectName, w.Desired.Name)));
                var pending = w.Desired with { Generation = 0, Node = null, Error = null, Created = now };
                txn.Success.Add(ClusterCodec.Put(ClusterKeys.PendingOf(projectName, w.Desired.Name), ClusterCodec.Encode(pending, ClusterJson.Default.DesiredInstance)));
            }
            var written = await etcd.TxnAsync(txn).ConfigureAwait(false);
            if (written.Succeeded)
            {
                admitted.ForEach(w => w.Done.TrySetResult(written.Header.Revision));
                refused.ForEach(x => x.Item1.Done.TrySetException(x.Item2));
                return;
            }
            // Another node's batch or a deletion changed the usage first: read again, with jitter under contention.
            batch = [.. admitted, .. refused.Select(x => x.Item1)];
            await Task.Delay(Random.Shared.Next(0, 2 + Math.Min(attempt * 2, 30))).ConfigureAwait(false);
        }
    }

    private static RequestOp Exists(string key) => new() { RequestRange = new RangeRequest { Key = EtcdConnection.Bytes(key), CountOnly = true } };

    private sealed class ProjectQueue
    {
        public List<Waiting> Items { get; } = [];
        public bool Running { get; set; }
    }

    private sealed class Waiting(DesiredInstance desired, CancellationToken ct)
    {
        public DesiredInstance Desired { get; } = desired;
        public CancellationToken Ct { get; } = ct;
        public InstanceSpec Spec { get; } = ClusterInstances.SpecOf(desired);
        public TaskCompletionSource<long> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
