using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using V3Electionpb;

namespace Strata.Cluster.Etcd;

/// <summary>
/// One connection to an etcd cluster: a gRPC channel per member, calls sent to the current member and moved to
/// the next one when it does not answer (refused, no leader, deadline). Every call has a deadline, so a cluster
/// without quorum fails fast with an <see cref="EtcdUnavailableException"/> instead of hanging. Requests that
/// change state are transactions guarded by compares, so a retry after an unknown outcome cannot apply twice:
/// its compare fails and the caller reads again.
/// </summary>
public sealed partial class EtcdConnection : IDisposable
{
    private readonly GrpcChannel[] _channels;
    private int _current;

    /// <param name="credentials">TLS and user authentication (none: plain HTTP/2, as before).</param>
    public EtcdConnection(IReadOnlyList<Uri> members, TimeSpan? callTimeout = null, EtcdCredentials? credentials = null)
    {
        ArgumentNullException.ThrowIfNull(members);
        if (members.Count == 0)
        {
            throw new ArgumentException("at least one etcd member is needed", nameof(members));
        }
        _credentials = credentials ?? EtcdCredentials.None;
        (_trusted, _clientCertificate) = LoadTls(_credentials);
        Members = _credentials.Tls ? [.. members.Select(m => new UriBuilder(m) { Scheme = Uri.UriSchemeHttps }.Uri)] : members;
        CallTimeout = callTimeout ?? TimeSpan.FromSeconds(2);
        _channels = [.. Members.Select(m => GrpcChannel.ForAddress(m, new GrpcChannelOptions
        {
            Credentials = _credentials.Tls ? ChannelCredentials.SecureSsl : ChannelCredentials.Insecure,
            MaxReceiveMessageSize = 64 << 20,
            HttpHandler = Handler(),
        }))];
    }

    public EtcdConnection(string connection, TimeSpan? callTimeout = null, EtcdCredentials? credentials = null) : this(EtcdEndpoints.Parse(connection), callTimeout, credentials)
    {
    }

    public IReadOnlyList<Uri> Members { get; }

    /// <summary>The deadline of one unary call on one member.</summary>
    public TimeSpan CallTimeout { get; }

    /// <summary>True when the members are reached over TLS.</summary>
    public bool Tls => _credentials.Tls;

    private string MemberList => string.Join(',', Members.Select(m => m.Authority));

    /// <summary>
    /// Runs <paramref name="call"/> on the current member, then on each other member while they fail to answer.
    /// <paramref name="call"/> gets the channel and the deadline of this attempt. With user authentication the call
    /// carries the token, and an expired token is renewed once. A refusal (not unavailability) is an
    /// <see cref="EtcdRequestException"/> with etcd's words.
    /// </summary>
    public async Task<T> RunAsync<T>(Func<CallInvoker, DateTime, CancellationToken, Task<T>> call, CancellationToken ct = default, TimeSpan? timeout = null)
    {
        for (var renewed = false; ; renewed = true)
        {
            await EnsureTokenAsync(ct).ConfigureAwait(false);
            var token = _token;
            try
            {
                return await RunOnMembersAsync(call, ct, timeout, authenticated: true).ConfigureAwait(false);
            }
            catch (EtcdRequestException e) when (!renewed && _credentials.User is not null && IsInvalidToken(e))
            {
                Interlocked.CompareExchange(ref _token, null, token);
            }
        }
    }

    private async Task<T> RunOnMembersAsync<T>(Func<CallInvoker, DateTime, CancellationToken, Task<T>> call, CancellationToken ct, TimeSpan? timeout, bool authenticated)
    {
        RpcException? last = null;
        var start = Volatile.Read(ref _current);
        for (var attempt = 0; attempt < _channels.Length; attempt++)
        {
            ct.ThrowIfCancellationRequested();
            var index = (start + attempt) % _channels.Length;
            try
            {
                var result = await call(authenticated ? InvokerAt(index) : _channels[index].CreateCallInvoker(), DateTime.UtcNow + (timeout ?? CallTimeout), ct).ConfigureAwait(false);
                Volatile.Write(ref _current, index);
                return result;
            }
            catch (RpcException e) when (IsUnavailable(e, ct))
            {
                last = e;
            }
            catch (RpcException e) when (ct.IsCancellationRequested)
            {
                throw new OperationCanceledException("cancelled", e, ct);
            }
            catch (RpcException e)
            {
                throw Refused(e);
            }
        }
        throw Unavailable(last);
    }

    internal EtcdUnavailableException Unavailable(RpcException? last) =>
        TlsProblem(last) is { } tls
            ? new($"etcd cannot be reached over TLS at {MemberList}: {tls}.", last)
            : new($"etcd is unavailable: no member of {MemberList} answered with a quorum ({Describe(last)}). " +
                "Cluster writes are refused until a majority of the etcd members are up; running workloads keep running. " +
                "Check the members with: etcdctl --endpoints " + string.Join(',', Members.Select(m => m.ToString().TrimEnd('/'))) + " endpoint health", last);

    private static string Describe(RpcException? e) => e is null ? "no answer" : e.StatusCode + ": " + e.Status.Detail;

    internal static bool IsUnavailable(RpcException e, CancellationToken ct) =>
        !ct.IsCancellationRequested && e.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.Cancelled or StatusCode.Internal or StatusCode.Unknown;

    internal CallInvoker InvokerAt(int index)
    {
        var invoker = _channels[index % _channels.Length].CreateCallInvoker();
        return _credentials.User is null ? invoker : invoker.Intercept(AddToken);
    }

    internal int Current => Volatile.Read(ref _current);

    internal void MoveOn(int from) => Interlocked.CompareExchange(ref _current, (from + 1) % _channels.Length, from % _channels.Length);

    internal int MemberCount => _channels.Length;

    // ---- KV ----

    public Task<RangeResponse> GetAsync(string key, CancellationToken ct = default) =>
        RunAsync((c, d, t) => new KV.KVClient(c).RangeAsync(new RangeRequest { Key = Bytes(key) }, deadline: d, cancellationToken: t).ResponseAsync, ct);

    /// <summary>Every key under <paramref name="prefix"/>, sorted by key (or by mod revision, oldest first, when <paramref name="oldestFirst"/>).</summary>
    public Task<RangeResponse> GetPrefixAsync(string prefix, long limit = 0, bool oldestFirst = false, bool keysOnly = false, CancellationToken ct = default, TimeSpan? timeout = null) =>
        RunAsync((c, d, t) => new KV.KVClient(c).RangeAsync(new RangeRequest
        {
            Key = Bytes(prefix),
            RangeEnd = PrefixEnd(prefix),
            Limit = limit,
            KeysOnly = keysOnly,
            SortTarget = oldestFirst ? RangeRequest.Types.SortTarget.Mod : RangeRequest.Types.SortTarget.Key,
            SortOrder = oldestFirst ? RangeRequest.Types.SortOrder.Ascend : RangeRequest.Types.SortOrder.None,
        }, deadline: d, cancellationToken: t).ResponseAsync, ct, timeout);

    public Task<TxnResponse> TxnAsync(TxnRequest txn, CancellationToken ct = default, TimeSpan? timeout = null) =>
        RunAsync(async (c, d, t) =>
        {
            try
            {
                return await new KV.KVClient(c).TxnAsync(txn, deadline: d, cancellationToken: t).ResponseAsync.ConfigureAwait(false);
            }
            catch (RpcException e) when (e.StatusCode is StatusCode.InvalidArgument or StatusCode.FailedPrecondition or StatusCode.ResourceExhausted)
            {
                throw new EtcdRequestException("etcd refused the transaction: " + e.Status.Detail, e);
            }
        }, ct, timeout);

    /// <summary>An unconditional put (for values one writer owns), optionally under a lease.</summary>
    public Task<PutResponse> PutAsync(string key, ByteString value, long lease = 0, CancellationToken ct = default) =>
        RunAsync((c, d, t) => new KV.KVClient(c).PutAsync(new PutRequest { Key = Bytes(key), Value = value, Lease = lease }, deadline: d, cancellationToken: t).ResponseAsync, ct);

    public Task<DeleteRangeResponse> DeleteAsync(string key, CancellationToken ct = default) =>
        RunAsync((c, d, t) => new KV.KVClient(c).DeleteRangeAsync(new DeleteRangeRequest { Key = Bytes(key) }, deadline: d, cancellationToken: t).ResponseAsync, ct);

    /// <summary>Discards the history before <paramref name="revision"/> (watchers behind it are cancelled with the compact revision).</summary>
    public Task<CompactionResponse> CompactAsync(long revision, CancellationToken ct = default) =>
        RunAsync((c, d, t) => new KV.KVClient(c).CompactAsync(new CompactionRequest { Revision = revision, Physical = true }, deadline: d, cancellationToken: t).ResponseAsync, ct, TimeSpan.FromSeconds(10));

    // ---- leases ----

    public async Task<long> GrantLeaseAsync(TimeSpan ttl, CancellationToken ct = default)
    {
        var r = await RunAsync((c, d, t) => new Lease.LeaseClient(c).LeaseGrantAsync(new LeaseGrantRequest { TTL = (long)Math.Ceiling(ttl.TotalSeconds) }, deadline: d, cancellationToken: t).ResponseAsync, ct).ConfigureAwait(false);
        if (!string.IsNullOrEmpty(r.Error))
        {
            throw new EtcdRequestException("etcd refused a lease: " + r.Error);
        }
        return r.ID;
    }

    /// <summary>One keepalive of <paramref name="lease"/>: its remaining TTL in seconds, 0 when it has expired.</summary>
    public Task<long> KeepAliveOnceAsync(long lease, CancellationToken ct = default) =>
        RunAsync(async (c, d, t) =>
        {
            using var call = new Lease.LeaseClient(c).LeaseKeepAlive(deadline: d, cancellationToken: t);
            await call.RequestStream.WriteAsync(new LeaseKeepAliveRequest { ID = lease }, t).ConfigureAwait(false);
            await call.RequestStream.CompleteAsync().ConfigureAwait(false);
            return await call.ResponseStream.MoveNext(t).ConfigureAwait(false) ? call.ResponseStream.Current.TTL : 0;
        }, ct);

    public async Task RevokeLeaseAsync(long lease, CancellationToken ct = default)
    {
        try
        {
            await RunAsync((c, d, t) => new Lease.LeaseClient(c).LeaseRevokeAsync(new LeaseRevokeRequest { ID = lease }, deadline: d, cancellationToken: t).ResponseAsync, ct).ConfigureAwait(false);
        }
        catch (EtcdRequestException e) when (e.Status == StatusCode.NotFound)
        {
            // already gone
        }
    }

    // ---- election ----

    /// <summary>
    /// Campaigns for <paramref name="election"/> under <paramref name="lease"/> (never without one: a campaign
    /// without a lease would hold a session of etcd's own that nobody keeps alive). Returns when this caller leads:
    /// the leader key, whose create revision fences the leader's writes.
    /// </summary>
    public async Task<LeaderKey> CampaignAsync(string election, long lease, string value, CancellationToken ct)
    {
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            await EnsureTokenAsync(ct).ConfigureAwait(false);
            var index = Current;
            try
            {
                var r = await new Election.ElectionClient(InvokerAt(index)).CampaignAsync(
                    new CampaignRequest { Name = Bytes(election), Lease = lease, Value = Bytes(value) }, cancellationToken: ct).ResponseAsync.ConfigureAwait(false);
                return r.Leader;
            }
            catch (RpcException e) when (IsUnavailable(e, ct))
            {
                MoveOn(index);
                await Task.Delay(200, ct).ConfigureAwait(false);
            }
            catch (RpcException e) when (ct.IsCancellationRequested)
            {
                throw new OperationCanceledException("cancelled", e, ct);
            }
            catch (RpcException e) when (_credentials.User is not null && e.Status.Detail.Contains("invalid auth token", StringComparison.Ordinal))
            {
                _token = null;
            }
            catch (RpcException e)
            {
                throw Refused(e);
            }
        }
    }

    /// <summary>The current leader's value, or null when nobody leads.</summary>
    public async Task<string?> LeaderAsync(string election, CancellationToken ct = default)
    {
        try
        {
            var r = await RunAsync((c, d, t) => new Election.ElectionClient(c).LeaderAsync(new LeaderRequest { Name = Bytes(election) }, deadline: d, cancellationToken: t).ResponseAsync, ct).ConfigureAwait(false);
            return r.Kv?.Value.ToStringUtf8();
        }
        catch (EtcdUnavailableException e) when (e.InnerException is RpcException { Status.Detail: var detail } && detail.Contains("no leader", StringComparison.Ordinal))
        {
            return null;
        }
        catch (EtcdRequestException e) when (e.Detail.Contains("no leader", StringComparison.Ordinal))
        {
            return null;
        }
    }

    public static ByteString Bytes(string s) => ByteString.CopyFromUtf8(s);

    /// <summary>The range end that selects every key starting with <paramref name="prefix"/>.</summary>
    public static ByteString PrefixEnd(string prefix)
    {
        var b = System.Text.Encoding.UTF8.GetBytes(prefix);
        for (var i = b.Length - 1; i >= 0; i--)
        {
            if (b[i] < 0xff)
            {
                b[i]++;
                return ByteString.CopyFrom(b.AsSpan(0, i + 1));
            }
        }
        return ByteString.CopyFrom([0]);
    }

    public void Dispose()
    {
        foreach (var c in _channels)
        {
            c.Dispose();
        }
        _clientCertificate?.Dispose();
        _authenticating.Dispose();
    }
}
