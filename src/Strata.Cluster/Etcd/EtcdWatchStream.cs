using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;

namespace Strata.Cluster.Etcd;

/// <summary>
/// One watch stream on one etcd member: create a watch, ask for a progress report, read responses. A broken
/// stream (member gone, cancelled) reads as the end (null) rather than throwing; the owner opens another one.
/// </summary>
public sealed class EtcdWatchStream : IDisposable
{
    private readonly AsyncDuplexStreamingCall<WatchRequest, WatchResponse> _call;
    private readonly SemaphoreSlim _write = new(1, 1);
    private readonly CancellationToken _ct;

    /// <param name="requireLeader">The member ends the stream when it loses its raft leader (etcd's <c>hasleader</c>
    /// metadata), so a watcher cut off from the quorum learns it instead of waiting on a silent stream.</param>
    internal EtcdWatchStream(CallInvoker invoker, bool requireLeader, CancellationToken ct)
    {
        _ct = ct;
        _call = new Watch.WatchClient(invoker).Watch(requireLeader ? new Metadata { { "hasleader", "true" } } : null, cancellationToken: ct);
    }

    /// <summary>Watches every key under <paramref name="prefix"/> from <paramref name="startRevision"/>; false when the stream is broken.</summary>
    public Task<bool> CreateAsync(string prefix, long startRevision, bool progressNotify = true) =>
        CreateAsync(EtcdConnection.Bytes(prefix), EtcdConnection.PrefixEnd(prefix), startRevision, progressNotify);

    /// <summary>
    /// Watches every key in etcd from <paramref name="startRevision"/>: every revision then comes as an event, so
    /// the last event's revision is etcd's revision once the watch has caught up. (etcd 3.4's progress request is
    /// not used: before 3.4.24 it may report a revision a watch still catching up has not delivered.)
    /// </summary>
    public Task<bool> CreateAllAsync(long startRevision) =>
        CreateAsync(ByteString.CopyFrom(0), ByteString.CopyFrom(0), startRevision, progressNotify: false);

    private Task<bool> CreateAsync(ByteString key, ByteString rangeEnd, long startRevision, bool progressNotify) => WriteAsync(new WatchRequest
    {
        CreateRequest = new WatchCreateRequest { Key = key, RangeEnd = rangeEnd, StartRevision = startRevision, ProgressNotify = progressNotify },
    });

    private async Task<bool> WriteAsync(WatchRequest request)
    {
        try
        {
            await _write.WaitAsync(_ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
        try
        {
            await _call.RequestStream.WriteAsync(request, _ct).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is RpcException or OperationCanceledException or InvalidOperationException or ObjectDisposedException)
        {
            return false;
        }
        finally
        {
            _write.Release();
        }
    }

    /// <summary>The next response, or null when the stream ended or broke.</summary>
    public async Task<WatchResponse?> ReadAsync()
    {
        try
        {
            return await _call.ResponseStream.MoveNext(_ct).ConfigureAwait(false) ? _call.ResponseStream.Current : null;
        }
        catch (Exception e) when (e is RpcException or OperationCanceledException or InvalidOperationException)
        {
            return null;
        }
    }

    public void Dispose()
    {
        _call.Dispose();
        _write.Dispose();
    }
}
