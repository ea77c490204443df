using Strata.Client;
using Strata.Contracts;
using Strata.Cluster;
using Strata.Control;

namespace Strata.Daemon.Move;

/// <summary>
/// The daemon an instance moves to, reached over its API with a token it accepts (its admin token, or an operator
/// token of the same project there). Every call names the instance's project, so a token of another project is refused there.
/// </summary>
internal sealed partial class RemoteMoveDestination : IMoveDestination, IDisposable
{
    private readonly StrataClient _client;

    /// <param name="certificateSha256">An HTTPS target's certificate pinned (a cluster node's record names it); null: the system's trust.</param>
    public RemoteMoveDestination(Uri address, string token, string project, string? certificateSha256 = null)
    {
        Reference = new MoveDestinationRef(address.ToString(), token, certificateSha256);
        Name = address.GetLeftPart(UriPartial.Authority);
        ListenHost = address.HostNameType == UriHostNameType.IPv6 ? address.Host.Trim('[', ']') : address.Host;
        _client = new StrataClient(new ClientOptions { Host = address, Token = token, Project = project, TlsCertificateSha256 = certificateSha256 });
    }

    /// <summary>A cluster node as the destination (<see cref="ClusterPeer.ClientOptionsFor"/>: scheme, token, pin).</summary>
    public static RemoteMoveDestination ForNode(NodeRecord node, string token, string project)
    {
        var options = Cluster.ClusterPeer.ClientOptionsFor(node, token, project);
        return new RemoteMoveDestination(options.Host!, token, project, options.TlsCertificateSha256);
    }

    public string Name { get; }

    public string ListenHost { get; }

    public MoveDestinationRef Reference { get; }

    /// <summary>Parses the target's address as <c>strata move --to-address</c> takes it: <c>http(s)://HOST:PORT</c>.</summary>
    public static Uri ParseAddress(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            throw StrataException.Invalid("toAddress",
                "name the target daemon's API address: 'strata move NAME --to-address http://HOST:PORT --to-token TOKEN' (the target's --listen address and a token it accepts); inside a cluster, name the node instead: --node NODE");
        }
        if (!Uri.TryCreate(text.Contains("://", StringComparison.Ordinal) ? text : "http://" + text, UriKind.Absolute, out var uri)
            || uri.Scheme is not ("http" or "https") || uri.IsDefaultPort && !text.Contains(':', StringComparison.Ordinal))
        {
            throw StrataException.Invalid("toAddress", $"'{text}' is not a daemon address such as http://10.0.0.2:7443");
        }
        return uri;
    }

    public async Task<IncomingMoveInfo> PrepareAsync(string name, IncomingMoveRequest request, CancellationToken cancellationToken) =>
        await Call(() => _client.PrepareIncomingMoveAsync(name, request, cancellationToken)).ConfigureAwait(false);

    public async Task ConfirmAsync(string name, TimeSpan timeout, CancellationToken cancellationToken) =>
        await Call(() => _client.ConfirmIncomingMoveAsync(name, timeout, cancellationToken)).ConfigureAwait(false);

    public async Task<bool> HoldsAsync(string name, string instanceId, CancellationToken cancellationToken)
    {
        try
        {
            var info = await Call(() => _client.GetAsync(name, cancellationToken)).ConfigureAwait(false);
            return info.Id == instanceId;
        }
        catch (StrataException e) when (e.Kind == ErrorKind.NotFound)
        {
            return false;
        }
    }

    public async Task DiscardAsync(string name, CancellationToken cancellationToken)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(TimeSpan.FromSeconds(60));
        await Call(async () =>
        {
            await _client.DiscardIncomingMoveAsync(name, limit.Token).ConfigureAwait(false);
            return true;
        }).ConfigureAwait(false);
    }

    /// <summary>The target's own refusal keeps its kind and words, prefixed with where it came from.</summary>
    private async Task<T> Call<T>(Func<Task<T>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (StrataApiException e)
        {
            throw new StrataException(e.Kind, $"the target daemon {Name} said: {e.Message}", inner: e);
        }
        catch (Exception e) when (e is HttpRequestException or DaemonUnreachableException)
        {
            throw new StrataException(ErrorKind.Unavailable, $"the target daemon {Name} could not be reached ({e.Message}); check the address and that it runs with --listen", inner: e);
        }
    }

    public void Dispose() => _client.Dispose();
}
