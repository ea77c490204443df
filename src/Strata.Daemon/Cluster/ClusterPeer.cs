using Strata.Client;
using Strata.Cluster;
using Strata.Contracts;
using Strata.Control.Projects;
using Strata.Daemon.Api;

namespace Strata.Daemon.Cluster;

/// <summary>
/// A request one node forwards to another (<see cref="NodeForwarder"/>): it carries the cluster token as its bearer
/// token, the caller the first node authenticated (<see cref="CallerHeader"/>) and the forwarding node's name.
/// Only a request whose bearer is the cluster token may name a caller; anything else with the header is refused.
/// </summary>
public static class ClusterPeer
{
    public const string CallerHeader = "X-Strata-Forwarded-Caller";
    public const string ForwardedByHeader = "X-Strata-Forwarded-By";

    private static readonly object ForwardedKey = new();

    /// <summary>
    /// A node's own call to <paramref name="node"/>'s API: its address with the scheme its record gives, the cluster
    /// <paramref name="token"/>, <paramref name="project"/>, and, when it speaks TLS, its certificate pinned as its
    /// record names it. A TLS node whose record pins nothing is unavailable until it registers again.
    /// </summary>
    public static ClientOptions ClientOptionsFor(NodeRecord node, string token, string? project)
    {
        var pin = node.RequirePin();
        return new ClientOptions
        {
            Host = new Uri((node.Tls ? "https://" : "http://") + node.Address),
            Token = token,
            Project = project,
            TlsCertificateSha256 = pin,
        };
    }

    /// <summary><c>project;role;host|project;tokenId</c>, each part URL-escaped.</summary>
    public static string Encode(Caller c) => string.Join(';',
        Uri.EscapeDataString(c.Project), c.Role, c.IsHostAdmin ? "host" : "project", Uri.EscapeDataString(c.TokenId ?? ""));

    /// <summary>
    /// The caller of a request whose bearer is the cluster token: the one it names, or a host administrator (a
    /// node's own call) when it names none. Remembers which node forwarded it.
    /// </summary>
    public static Caller Resolve(HttpContext http, string? namedProject)
    {
        http.Items[ForwardedKey] = http.Request.Headers[ForwardedByHeader].ToString() is { Length: > 0 } from ? from : "(a node)";
        var named = http.Request.Headers[CallerHeader].ToString();
        if (named.Length == 0)
        {
            return Caller.HostAdmin(namedProject ?? Control.InstanceService.DefaultProject);
        }
        var parts = named.Split(';');
        if (parts.Length != 4 || ProjectRoles.Rank(parts[1]) < 0 || parts[2] is not ("host" or "project"))
        {
            throw new StrataException(ErrorKind.InvalidArgument, $"{CallerHeader}: '{named}' is not project;role;host|project;tokenId");
        }
        var tokenId = Uri.UnescapeDataString(parts[3]);
        return new Caller(Uri.UnescapeDataString(parts[0]), parts[1], parts[2] == "host", tokenId.Length == 0 ? null : tokenId);
    }

    /// <summary>A request with <see cref="CallerHeader"/> whose bearer is not the cluster token.</summary>
    public static StrataException Refused(HttpContext http) => new(ErrorKind.Unauthorized,
        $"a request forwarded by node {http.Request.Headers[ForwardedByHeader]} carries a cluster token that is not this cluster's; " +
        "that node cannot act here: give it the cluster token of this cluster (--cluster-token-file, made by 'strata cluster init') and restart it");

    /// <summary>The node that forwarded this request, or null when a client sent it.</summary>
    public static string? ForwardedBy(HttpContext http) => http.Items.TryGetValue(ForwardedKey, out var v) ? v as string : null;
}
