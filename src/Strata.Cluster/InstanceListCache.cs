using Etcdserverpb;
using Microsoft.Extensions.Logging;
using Mvccpb;
using Strata.Cluster.Etcd;

namespace Strata.Cluster;

/// <summary>
/// A node's copy of what instance lists are made of (instance and pending records, the nodes' state reports,
/// which nodes are online), kept equal to etcd by one watch, with every instance already
/// shaped for the API, so a list is a filter and a copy of bytes instead of decoding every record per request.
/// </summary>
/// <remarks>
/// It starts from one transaction of range reads (one revision R) and watches every key from R+1 (keys outside
/// <c>/strata/</c> are skipped, but their revisions count: every revision of etcd arrives as an event, so the
/// cache knows exactly which revision it has reached). A watch broken (member gone, member without a leader) is
/// opened again on the next member from the last revision applied; a watch cancelled because etcd compacted past
/// that revision reads everything again. A list is linearizable: it first reads etcd's current revision (one
/// small quorum read, so etcd without quorum is still a 503) and waits until the cache has applied it — a write
/// made through any node before the list is in it. A cache that does not get there within
/// <see cref="CatchUpTimeout"/> answers null and the caller reads etcd directly.
/// </remarks>
public sealed partial class InstanceListCache(EtcdConnection etcd, Func<ClusterInstance, byte[]> shape, ILogger log) : IAsyncDisposable
{
    private readonly Lock _lock = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Dictionary<string, ProjectEntries> _projects = new(StringComparer.Ordinal);
    private readonly Dictionary<string, InstanceReport> _reports = new(StringComparer.Ordinal);
    private readonly HashSet<string> _online = new(StringComparer.Ordinal);
    private TaskCompletionSource _advanced = NewSignal();
    private long _revision = -1;
    private CancellationTokenSource? _streamStop;
    private TaskCompletionSource? _paused;
    private Task _loop = Task.CompletedTask;
    private volatile bool _reload = true;

    /// <summary>How long a list waits for the cache to reach etcd's revision before reading etcd directly.</summary>
    public TimeSpan CatchUpTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>The etcd revision the cache has applied (-1 before its first read).</summary>
    public long Revision => Interlocked.Read(ref _revision);

    /// <summary>How many times it read everything (once at start, then after each compaction past it).</summary>
    public int Snapshots { get; private set; }

    public void Start() => _loop = SupervisedLoop.Start("instance list cache", SessionAsync, log, _stop.Token,
        firstRetry: TimeSpan.FromMilliseconds(200), longestRetry: TimeSpan.FromSeconds(5));

    /// <summary>
    /// The shaped instances of <paramref name="project"/> (placed ones by name, then pending ones), as of a
    /// revision at least etcd's current one; null when the cache could not catch up (read etcd instead).
    /// </summary>
    public async Task<IReadOnlyList<byte[]>?> ListAsync(string project, CancellationToken ct = default)
    {
        var now = (await etcd.GetAsync(ClusterKeys.Root, ct).ConfigureAwait(false)).Header.Revision;
        if (!await WaitForAsync(now, ct).ConfigureAwait(false))
        {
            LogBehind(now, Revision);
            return null;
        }
        lock (_lock)
        {
            if (!_projects.TryGetValue(project, out var entries))
            {
                return [];
            }
            var list = new List<byte[]>(entries.Placed.Count + entries.Pending.Count);
            foreach (var e in entries.Placed.Values)
            {
                list.Add(Shaped(e));
            }
            foreach (var e in entries.Pending.Values)
            {
                list.Add(Shaped(e));
            }
            return list;
        }
    }

    /// <summary>Waits until the cache has applied <paramref name="revision"/>; false after <see cref="CatchUpTimeout"/>.</summary>
    public async Task<bool> WaitForAsync(long revision, CancellationToken ct = default)
    {
        if (Revision >= revision)
        {
            return true;
        }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(CatchUpTimeout);
        while (Revision < revision)
        {
            var signal = Volatile.Read(ref _advanced).Task;
            if (Revision >= revision)
            {
                break;
            }
            try
            {
                await signal.WaitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>
    /// One watch session, run by a <see cref="SupervisedLoop"/>: read everything when needed, then apply every
    /// revision until the stream breaks. A failure moves to the next member; one that may have left a hole (a record
    /// it could not read, an unexpected fault) makes the next session read everything again.
    /// </summary>
    private async Task SessionAsync(CancellationToken ct)
    {
        var index = etcd.Current;
        try
        {
            if (_reload)
            {
                await LoadAsync(ct).ConfigureAwait(false);
                _reload = false;
            }
            using var streamStop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            using var stream = etcd.OpenWatch(index, requireLeader: true, streamStop.Token);
            Volatile.Write(ref _streamStop, streamStop);
            var open = await stream.CreateAllAsync(Revision + 1).ConfigureAwait(false);
            while (open && await stream.ReadAsync().ConfigureAwait(false) is { } response)
            {
                if (response.Canceled)
                {
                    if (response.CompactRevision > 0)
                    {
                        LogCompacted(Revision, response.CompactRevision);
                        _reload = true;
                    }
                    break;
                }
                if (response.Events.Count > 0)
                {
                    Apply(response.Events);
                }
            }
            Volatile.Write(ref _streamStop, null);
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            if (e is not (EtcdUnavailableException or EtcdRequestException))
            {
                _reload = true;
            }
            etcd.MoveOn(index);
            throw;
        }
        if (Volatile.Read(ref _paused) is { } paused)
        {
            await paused.Task.WaitAsync(ct).ConfigureAwait(false);
        }
        else
        {
            etcd.MoveOn(index);
            await Task.Delay(200, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Everything the lists need, read in one transaction (so at one revision), shaped, replacing what was held.</summary>
    private async Task LoadAsync(CancellationToken ct)
    {
        var read = new TxnRequest();
        foreach (var prefix in new[] { ClusterKeys.Instances, ClusterKeys.Pending, ClusterKeys.States, ClusterKeys.Nodes })
        {
            read.Success.Add(new RequestOp { RequestRange = new RangeRequest { Key = EtcdConnection.Bytes(prefix), RangeEnd = EtcdConnection.PrefixEnd(prefix) } });
        }
        var r = await etcd.TxnAsync(read, ct, TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        lock (_lock)
        {
            _projects.Clear();
            _reports.Clear();
            _online.Clear();
            foreach (var response in r.Responses)
            {
                foreach (var kv in response.ResponseRange.Kvs)
                {
                    Put(kv);
                }
            }
            foreach (var entries in _projects.Values)
            {
                foreach (var e in entries.Placed.Values.Concat(entries.Pending.Values))
                {
                    Shaped(e);
                }
            }
            Snapshots++;
        }
        Advance(r.Header.Revision, force: true);
    }

    private void Apply(IEnumerable<Event> events)
    {
        long last = 0;
        lock (_lock)
        {
            foreach (var e in events)
            {
                if (e.Type == Event.Types.EventType.Put)
                {
                    if (Put(e.Kv) is { } entry)
                    {
                        Shaped(entry);
                    }
                }
                else
                {
                    Delete(ClusterCodec.Key(e.Kv));
                }
                last = e.Kv.ModRevision;
            }
        }
        Advance(last);
    }

    /// <summary>Takes in one record (under the lock); the instance entry when it was an instance or pending record.</summary>
    private Entry? Put(KeyValue kv)
    {
        var key = ClusterCodec.Key(kv);
        if (key.StartsWith(ClusterKeys.Instances, StringComparison.Ordinal) || key.StartsWith(ClusterKeys.Pending, StringComparison.Ordinal))
        {
            var (project, name) = ClusterKeys.ProjectAndName(key);
            var entry = new Entry(ClusterCodec.Decode(kv, ClusterJson.Default.DesiredInstance), kv.ModRevision);
            var entries = EntriesOf(project);
            (key.StartsWith(ClusterKeys.Instances, StringComparison.Ordinal) ? entries.Placed : entries.Pending)[name] = entry;
            return entry;
        }
        if (key.StartsWith(ClusterKeys.States, StringComparison.Ordinal))
        {
            _reports[key] = ClusterCodec.Decode(kv, ClusterJson.Default.InstanceReport);
        }
        else if (key.StartsWith(ClusterKeys.Nodes, StringComparison.Ordinal))
        {
            _online.Add(key[ClusterKeys.Nodes.Length..]);
        }
        return null;
    }

    private void Delete(string key)
    {
        if (key.StartsWith(ClusterKeys.Instances, StringComparison.Ordinal) || key.StartsWith(ClusterKeys.Pending, StringComparison.Ordinal))
        {
            var (project, name) = ClusterKeys.ProjectAndName(key);
            if (_projects.TryGetValue(project, out var entries))
            {
                (key.StartsWith(ClusterKeys.Instances, StringComparison.Ordinal) ? entries.Placed : entries.Pending).Remove(name);
            }
        }
        else if (key.StartsWith(ClusterKeys.States, StringComparison.Ordinal))
        {
            _reports.Remove(key);
        }
        else if (key.StartsWith(ClusterKeys.Nodes, StringComparison.Ordinal))
        {
            _online.Remove(key[ClusterKeys.Nodes.Length..]);
        }
    }

    private ProjectEntries EntriesOf(string project)
    {
        if (!_projects.TryGetValue(project, out var entries))
        {
            _projects[project] = entries = new ProjectEntries();
        }
        return entries;
    }

    /// <summary>The entry's shaped bytes for its current report and status, shaped again only when those changed (under the lock).</summary>
    private byte[] Shaped(Entry e)
    {
        var d = e.Desired;
        var report = d.Node is { } node ? _reports.GetValueOrDefault(ClusterKeys.State(node, d.Project, d.Name)) : null;
        var status = ClusterInstances.StatusOf(d, report, _online.Contains);
        if (e.Bytes is null || !ReferenceEquals(e.ShapedReport, report) || e.ShapedStatus != status)
        {
            e.Bytes = shape(new ClusterInstance(d, report, status, e.Revision));
            e.ShapedReport = report;
            e.ShapedStatus = status;
        }
        return e.Bytes;
    }

    private void Advance(long revision, bool force = false)
    {
        if (force)
        {
            Interlocked.Exchange(ref _revision, revision);
        }
        else
        {
            long seen;
            while ((seen = Interlocked.Read(ref _revision)) < revision && Interlocked.CompareExchange(ref _revision, revision, seen) != seen)
            {
            }
        }
        Interlocked.Exchange(ref _advanced, NewSignal()).TrySetResult();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// Stops following etcd (the watch is cancelled as a lost member would end it) until <see cref="Resume"/>:
    /// lets tests make changes, or compact etcd, while the cache is behind.
    /// </summary>
    public void Pause()
    {
        Volatile.Write(ref _paused, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        try
        {
            Volatile.Read(ref _streamStop)?.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // the stream just ended on its own
        }
    }

    /// <summary>Follows etcd again from the last revision applied (reading everything when etcd compacted past it).</summary>
    public void Resume() => Interlocked.Exchange(ref _paused, null)?.TrySetResult();

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        Resume();
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        _stop.Dispose();
    }

    private sealed class ProjectEntries
    {
        public SortedDictionary<string, Entry> Placed { get; } = new(StringComparer.Ordinal);
        public SortedDictionary<string, Entry> Pending { get; } = new(StringComparer.Ordinal);
    }

    private sealed class Entry(DesiredInstance desired, long revision)
    {
        public DesiredInstance Desired { get; } = desired;
        public long Revision { get; } = revision;
        public byte[]? Bytes { get; set; }
        public InstanceReport? ShapedReport { get; set; }
        public string? ShapedStatus { get; set; }
    }
}
