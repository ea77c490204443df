namespace Strata.Cluster.Etcd;

/// <summary>
/// How a node proves itself to etcd (docs/cluster.md, "etcd with TLS and authentication"): TLS to the members'
/// client URLs, verified against <see cref="CaFile"/>, with a client certificate when etcd runs with
/// <c>--client-cert-auth</c>; and/or etcd's user and password authentication. Every path names the daemon flag
/// that set it, so an error can say which one to fix.
/// </summary>
public sealed record EtcdCredentials
{
    /// <summary>PEM file of the CA(s) that signed the members' certificates (<c>--etcd-cacert</c>); null: the system's trust store.</summary>
    public string? CaFile { get; init; }

    /// <summary>PEM client certificate (<c>--etcd-cert</c>), with its key in <see cref="KeyFile"/> (<c>--etcd-key</c>).</summary>
    public string? CertFile { get; init; }

    public string? KeyFile { get; init; }

    /// <summary>etcd user (<c>--etcd-user</c>); its password comes from a file or the environment, never the command line.</summary>
    public string? User { get; init; }

    public string? Password { get; init; }

    /// <summary>Where the password came from, for error messages (<c>--etcd-password-file PATH</c> or the variable).</summary>
    public string PasswordSource { get; init; } = "--etcd-password-file";

    /// <summary>True when the members are reached over TLS (any of the TLS flags given).</summary>
    public bool Tls => CaFile is not null || CertFile is not null;

    public static EtcdCredentials None { get; } = new();
}
