using Microsoft.Extensions.Logging;
using Mvccpb;
using Strata.Cluster.Etcd;

namespace Strata.Cluster;

/// <summary>A copy of a cluster instance on this node, as the node's own instance service has it.</summary>
public sealed record LocalCopy(string Project, string Name, long Generation, string State);

/// <summary>
/// How the node agent runs instances: the daemon implements it with its own instance service and drivers
/// (labelling each copy with its generation), tests with a small in-memory one.
/// </summary>
public interface IClusterWorkloads
{
    /// <summary>The cluster instances this node holds a copy of.</summary>
    Task<IReadOnlyList<LocalCopy>> ListAsync(CancellationToken ct);

    /// <summary>Creates and starts the copy of <paramref name="desired"/> (its generation recorded with it).</summary>
    Task RunAsync(DesiredInstance desired, CancellationToken ct);

    /// <summary>Stops and removes this node's copy.</summary>
    Task RemoveAsync(string project, string name, CancellationToken ct);
}

/// <summary>
/// The node's side of the cluster: watches its assignments (<c>assign/NODE/…</c>), runs each through
/// <see cref="IClusterWorkloads"/>, and reports the state of its own copies under its lease. On start and after
/// every lapse of its lease it compares everything: a copy without an assignment, or of another generation,
/// is stale (it was placed again elsewhere while this node was away) and is stopped. So two live copies are
/// never recorded as one. An instance under a move marker (<see cref="ClusterMoves"/>) is left alone. Its loops are
/// supervised: a failure is logged and the loop starts again, with a full comparison first.
/// </summary>
public sealed partial class NodeAgent : IAsyncDisposable
{
    private readonly EtcdConnection _etcd;
    private readonly NodeMembership _membership;
    private readonly IClusterWorkloads _workloads;
    private readonly string _node;
    private readonly ILogger _log;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<string, InstanceReport> _reported = new(StringComparer.Ordinal);
    private long _reportedLease;
    private Task[] _loops = [];

    public NodeAgent(EtcdConnection etcd, NodeMembership membership, IClusterWorkloads workloads, string node, ILogger log)
    {
        _etcd = etcd;
        _membership = membership;
        _workloads = workloads;
        _node = node;
        _log = log;
    }

    /// <summary>Stale copies this agent stopped since it started.</summary>
    public int StaleStopped { get; private set; }

    /// <summary>Full comparisons of the local copies with the assignments since it started.</summary>
    public int Reconciles { get; private set; }

    /// <summary>How often the agent compares everything even when no event came (a safety net under the watch).</summary>
    public TimeSpan ReconcileInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Starts two supervised loops (<see cref="SupervisedLoop"/>): the assignments (compare everything, then follow
    /// the watch until the node's lease is replaced or the reconcile interval ends) and the state reports every 2 s.
    /// </summary>
    public void Start() => _loops =
    [
        SupervisedLoop.Start("node agent", CycleAsync, _log, _stop.Token),
        SupervisedLoop.Start("node agent state reports", ReportEveryAsync, _log, _stop.Token),
    ];

    /// <summary>
    /// One cycle under one registration of the node: compare every copy with the assignments, then apply each change
    /// of the assignments as it comes. The cycle ends (and the next one compares everything again) when the node
    /// registers under a new lease (it was away: what was replaced meanwhile must stop), and every
    /// <see cref="ReconcileInterval"/> in any case.
    /// </summary>
    private async Task CycleAsync(CancellationToken ct)
    {
        var term = _membership.Term;
        using var cycle = CancellationTokenSource.CreateLinkedTokenSource(ct, term.Replaced);
        cycle.CancelAfter(ReconcileInterval);
        try
        {
            var revision = await ReconcileAsync(cycle.Token).ConfigureAwait(false);
            await foreach (var batch in _etcd.WatchPrefixAsync(ClusterKeys.AssignmentsOf(_node), revision, cycle.Token).ConfigureAwait(false))
            {
                foreach (var e in batch.Events)
                {
                    await ApplyAsync(e, ct).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested && cycle.IsCancellationRequested)
        {
            // the cycle ended: compare everything again
        }
        if (term.Replaced.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            LogLeaseReplaced(_log, term.Lease, _membership.Lease);
        }
    }

    /// <summary>Every 2 s: reports copies whose state changed.</summary>
    private async Task ReportEveryAsync(CancellationToken ct)
    {
        await Task.Delay(TimeSpan.FromSeconds(2), ct).ConfigureAwait(false);
        await ReportAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Brings the local copies in line with the assignments; returns the revision read.</summary>
    public async Task<long> ReconcileAsync(CancellationToken ct)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var assigned = await _etcd.GetPrefixAsync(ClusterKeys.AssignmentsOf(_node), ct: ct, timeout: TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            var wanted = new Dictionary<(string, string), Assignment>();
            foreach (var kv in assigned.Kvs)
            {
                wanted[ClusterKeys.ProjectAndName(ClusterCodec.Key(kv))] = ClusterCodec.Decode(kv, ClusterJson.Default.Assignment);
            }
            var local = await _workloads.ListAsync(ct).ConfigureAwait(false);
            // An instance being moved (move/PROJECT/NAME) is the move's business: its copy on the target has no
            // assignment yet, the source's may be stopped; neither is touched until the switch or the marker's lapse.
            var moving = await ClusterMoves.MovingAsync(_etcd, ct).ConfigureAwait(false);
            var have = new HashSet<(string, string)>();
            foreach (var copy in local)
            {
                if (moving.Contains((copy.Project, copy.Name)))
                {
                    have.Add((copy.Project, copy.Name));
                    continue;
                }
                if (!wanted.TryGetValue((copy.Project, copy.Name), out var a) || a.Generation != copy.Generation)
                {
                    LogStale(_log, copy.Project, copy.Name, copy.Generation);
                    await _workloads.RemoveAsync(copy.Project, copy.Name, ct).ConfigureAwait(false);
                    StaleStopped++;
                    continue;
                }
                have.Add((copy.Project, copy.Name));
            }
            foreach (var ((project, name), _) in wanted)
            {
                if (!have.Contains((project, name)) && !moving.Contains((project, name)))
                {
                    await RunAssignedAsync(project, name, ct).ConfigureAwait(false);
                }
            }
            await ReportLockedAsync(ct).ConfigureAwait(false);
            Reconciles++;
            return assigned.Header.Revision;
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task ApplyAsync(Event e, CancellationToken ct)
    {
        var (project, name) = ClusterKeys.ProjectAndName(ClusterCodec.Key(e.Kv));
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var copy = (await _workloads.ListAsync(ct).ConfigureAwait(false)).FirstOrDefault(c => c.Project == project && c.Name == name);
            if (e.Type == Event.Types.EventType.Delete)
            {
                if (copy is not null)
                {
                    await _workloads.RemoveAsync(project, name, ct).ConfigureAwait(false);
                }
                await _etcd.DeleteAsync(ClusterKeys.State(_node, project, name), ct).ConfigureAwait(false);
                _reported.Remove(ClusterKeys.State(_node, project, name));
                return;
            }
            var a = ClusterCodec.Decode(e.Kv, ClusterJson.Default.Assignment);
            if (copy is not null && copy.Generation == a.Generation)
            {
                return;
            }
            if (copy is not null)
            {
                await _workloads.RemoveAsync(project, name, ct).ConfigureAwait(false);
            }
            await RunAssignedAsync(project, name, ct).ConfigureAwait(false);
            await ReportLockedAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task RunAssignedAsync(string project, string name, CancellationToken ct)
    {
        var r = await _etcd.GetAsync(ClusterKeys.Instance(project, name), ct).ConfigureAwait(false);
        if (r.Kvs.FirstOrDefault() is not { } kv)
        {
            return;
        }
        var d = ClusterCodec.Decode(kv, ClusterJson.Default.DesiredInstance);
        if (d.Node != _node)
        {
            return;
        }
        try
        {
            await _workloads.RunAsync(d, ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogRunFailed(_log, project, name, ex.Message);
            await _etcd.PutAsync(ClusterKeys.State(_node, project, name),
                ClusterCodec.Encode(new InstanceReport("error", d.Generation, DateTimeOffset.UtcNow, ex.Message), ClusterJson.Default.InstanceReport), _membership.Lease, ct).ConfigureAwait(false);
            _reported[ClusterKeys.State(_node, project, name)] = new InstanceReport("error", d.Generation, DateTimeOffset.UtcNow, ex.Message);
        }
    }

    private async Task ReportAsync(CancellationToken ct)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            await ReportLockedAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Writes the state of each local copy whose state (or lease) changed since it was last written, and removes the
    /// report of each copy that is no longer here: one removed as stale, or by its own move after the switch (which
    /// deleted the report once, but a copy still being torn down then may have been reported again). A failed run's
    /// <c>error</c> report has no copy and stays until its assignment goes.
    /// </summary>
    private async Task ReportLockedAsync(CancellationToken ct)
    {
        var lease = _membership.Lease;
        if (lease != _reportedLease)
        {
            _reported.Clear();
            _reportedLease = lease;
        }
        var local = await _workloads.ListAsync(ct).ConfigureAwait(false);
        var present = local.Select(c => ClusterKeys.State(_node, c.Project, c.Name)).ToHashSet(StringComparer.Ordinal);
        foreach (var gone in _reported.Where(r => r.Value.State != "error" && !present.Contains(r.Key)).Select(r => r.Key).ToList())
        {
            await _etcd.DeleteAsync(gone, ct).ConfigureAwait(false);
            _reported.Remove(gone);
        }
        foreach (var copy in local)
        {
            var key = ClusterKeys.State(_node, copy.Project, copy.Name);
            if (_reported.TryGetValue(key, out var last) && last.State == copy.State && last.Generation == copy.Generation)
            {
                continue;
            }
            var report = new InstanceReport(copy.State, copy.Generation, DateTimeOffset.UtcNow);
            await _etcd.PutAsync(key, ClusterCodec.Encode(report, ClusterJson.Default.InstanceReport), lease, ct).ConfigureAwait(false);
            _reported[key] = report;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(_loops).ConfigureAwait(false);
        _stop.Dispose();
        _gate.Dispose();
    }

    [LoggerMessage(EventId = 1940, Level = LogLevel.Warning, Message = "Cluster: stopping stale copy {Project}/{Name} (generation {Generation}): it was placed again elsewhere while this node was away")]
    private static partial void LogStale(ILogger log, string project, string name, long generation);

    [LoggerMessage(EventId = 1941, Level = LogLevel.Warning, Message = "Cluster: running {Project}/{Name} failed: {Reason}")]
    private static partial void LogRunFailed(ILogger log, string project, string name, string reason);

    [LoggerMessage(EventId = 1944, Level = LogLevel.Information, Message = "Cluster: the node registered again (lease {Old:x} replaced by {New:x}); comparing its copies with its assignments")]
    private static partial void LogLeaseReplaced(ILogger log, long old, long @new);
}
