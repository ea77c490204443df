using System.Globalization;
using Strata.Contracts;

namespace Strata.Daemon.Cluster;

/// <summary>
/// <c>stratad --cluster etcd://HOST:2379[,…] --node NAME --advertise ADDR:PORT</c>: the node joins the cluster
/// whose records live in those etcd members (docs/cluster.md). The lease TTL and replacement grace are
/// configurable for tests and small clusters.
/// </summary>
public sealed record ClusterDaemonOptions
{
    public string Etcd { get; init; } = "";

    /// <summary>Where other nodes reach this node's API (its <c>--listen</c> address as they can route to it).</summary>
    public string? Advertise { get; init; }

    public TimeSpan LeaseTtl { get; init; } = TimeSpan.FromSeconds(10);

    public TimeSpan ReplacementGrace { get; init; } = TimeSpan.FromMinutes(2);

    public const string DefaultTokenFile = "/etc/strata/cluster.token";

    /// <summary>The cluster token (from <c>strata cluster init</c>): a node without it cannot join, and nodes present it to each other.</summary>
    public string TokenFile { get; init; } = DefaultTokenFile;

    public static ClusterDaemonOptions Apply(ClusterDaemonOptions? o, string flag, string value)
    {
        o ??= new ClusterDaemonOptions();
        return flag switch
        {
            "--cluster" => o with { Etcd = value },
            "--advertise" => o with { Advertise = value },
            "--cluster-lease-ttl" => o with { LeaseTtl = Seconds(flag, value, 2) },
            "--cluster-replace-grace" => o with { ReplacementGrace = Seconds(flag, value, 0) },
            "--cluster-token-file" => o with { TokenFile = value },
            _ => throw StrataException.Invalid(flag, "not a cluster option"),
        };
    }

    private static TimeSpan Seconds(string flag, string value, int min) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var s) && s >= min
            ? TimeSpan.FromSeconds(s)
            : throw StrataException.Invalid(flag, $"'{value}' is not a whole number of seconds of at least {min}");

    public void Validate(DaemonOptions daemon)
    {
        if (string.IsNullOrEmpty(Etcd))
        {
            throw StrataException.Invalid("--cluster", "cluster options need --cluster etcd://HOST:2379[,HOST:2379…]");
        }
        try
        {
            Strata.Cluster.Etcd.EtcdEndpoints.Parse(Etcd);
        }
        catch (FormatException e)
        {
            throw StrataException.Invalid("--cluster", e.Message);
        }
        if (daemon.Node == Strata.Contracts.Host.NodeName.Default)
        {
            throw StrataException.Invalid("--node", "a cluster node needs its own name (--node NAME, e.g. node-1); 'local' is the single host's");
        }
        if (Advertise is null && daemon.Listen is null)
        {
            throw StrataException.Invalid("--advertise", "a cluster node is reached by the others on its TCP listener: give --listen ADDR:PORT (and --advertise when they reach it by another address)");
        }
        _ = Strata.Cluster.ClusterTrust.Read(TokenFile);
    }

    public Strata.Cluster.ClusterOptions ToClusterOptions() => new()
    {
        LeaseTtl = LeaseTtl,
        OfflineAfter = LeaseTtl * 2 > TimeSpan.FromSeconds(20) ? LeaseTtl * 2 : TimeSpan.FromSeconds(20),
        ReplacementGrace = ReplacementGrace,
    };
}
