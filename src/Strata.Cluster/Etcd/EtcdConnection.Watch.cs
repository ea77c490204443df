using System.Runtime.CompilerServices;
using Mvccpb;

namespace Strata.Cluster.Etcd;

/// <summary>The events of one watch response, and the revision they bring the watcher up to.</summary>
public sealed record WatchBatch(IReadOnlyList<Event> Events, long Revision);

public sealed partial class EtcdConnection
{
    /// <summary>A watch stream on member <paramref name="index"/> (see <see cref="Current"/>), for watchers that need progress reports or compaction signals.</summary>
    public EtcdWatchStream OpenWatch(int index, bool requireLeader, CancellationToken ct) => new(InvokerAt(index), requireLeader, ct);

    /// <summary>
    /// Every change under <paramref name="prefix"/> after <paramref name="afterRevision"/>, for as long as
    /// <paramref name="ct"/> allows. A broken stream is opened again on the next member from the last revision
    /// seen, so no event is lost or repeated. While no member answers, it keeps trying every half second.
    /// </summary>
    public async IAsyncEnumerable<WatchBatch> WatchPrefixAsync(string prefix, long afterRevision, [EnumeratorCancellation] CancellationToken ct)
    {
        var next = afterRevision + 1;
        while (!ct.IsCancellationRequested)
        {
            var index = Current;
            using (var stream = OpenWatch(index, requireLeader: false, ct))
            {
                var open = await stream.CreateAsync(prefix, next).ConfigureAwait(false);
                while (open && await stream.ReadAsync().ConfigureAwait(false) is { } response)
                {
                    if (response.Canceled)
                    {
                        // Compacted past our revision: start again from the oldest revision kept; the caller re-reads state on gaps.
                        next = Math.Max(next, response.CompactRevision);
                        break;
                    }
                    if (response.Events.Count > 0)
                    {
                        next = response.Events[^1].Kv.ModRevision + 1;
                        yield return new WatchBatch(response.Events, response.Events[^1].Kv.ModRevision);
                    }
                    else if (response.Header is { } h && !response.Created)
                    {
                        next = Math.Max(next, h.Revision + 1);
                    }
                }
            }
            if (!ct.IsCancellationRequested)
            {
                MoveOn(index);
                try
                {
                    await Task.Delay(500, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    yield break;
                }
            }
        }
    }
}
