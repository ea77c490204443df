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

    /// <summary>TLS to etcd: the CA of the members' certificates (<c>--etcd-cacert</c>), a client certificate and key.</summary>
    public string? EtcdCaFile { get; init; }

    public string? EtcdCertFile { get; init; }

    public string? EtcdKeyFile { get; init; }

    /// <summary>etcd user authentication: the user, and a file (0600) holding its password; else <see cref="PasswordVariable"/>.</summary>
    public string? EtcdUser { get; init; }

    public string? EtcdPasswordFile { get; init; }

    /// <summary>The environment variable that may carry the etcd user's password instead of a file (never a flag: argv is visible to every user).</summary>
    public const string PasswordVariable = "STRATA_ETCD_PASSWORD";

    /// <summary>The periodic rebalancer on the scheduler leader (<c>--rebalance off|dry-run|auto</c>).</summary>
    public Strata.Cluster.Rebalancing.RebalanceMode Rebalance { get; init; }

    /// <summary>Time between the periodic rebalancer's rounds (<c>--rebalance-interval</c>).</summary>
    public TimeSpan RebalanceInterval { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How far nodes' predicted loads may differ before it moves anything (<c>--rebalance-threshold</c>).</summary>
    public double RebalanceThreshold { get; init; } = 0.20;

    /// <summary>Every daemon flag this record takes.</summary>
    public static readonly string[] Flags =
    [
        "--cluster", "--advertise", "--cluster-lease-ttl", "--cluster-replace-grace", "--cluster-token-file",
        "--etcd-cacert", "--etcd-cert", "--etcd-key", "--etcd-user", "--etcd-password-file",
        "--rebalance", "--rebalance-interval", "--rebalance-threshold",
    ];

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
            "--etcd-cacert" => o with { EtcdCaFile = value },
            "--etcd-cert" => o with { EtcdCertFile = value },
            "--etcd-key" => o with { EtcdKeyFile = value },
            "--etcd-user" => o with { EtcdUser = value },
            "--etcd-password-file" => o with { EtcdPasswordFile = value },
            "--rebalance" => o with
            {
                Rebalance = value switch
                {
                    "off" => Strata.Cluster.Rebalancing.RebalanceMode.Off,
                    "dry-run" => Strata.Cluster.Rebalancing.RebalanceMode.DryRun,
                    "auto" => Strata.Cluster.Rebalancing.RebalanceMode.Auto,
                    _ => throw StrataException.Invalid(flag, $"'{value}' is not a rebalance mode; give off, dry-run or auto"),
                },
            },
            "--rebalance-interval" => o with { RebalanceInterval = Seconds(flag, value, 1) },
            "--rebalance-threshold" => o with
            {
                RebalanceThreshold = double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var t) && t is > 0 and < 1
                    ? t
                    : throw StrataException.Invalid(flag, $"'{value}' is not a fraction between 0 and 1 (e.g. 0.2 for 20 %)"),
            },
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
        try
        {
            _ = Strata.Cluster.Etcd.EtcdConnection.LoadTls(EtcdCredentials());
        }
        catch (Strata.Cluster.Etcd.EtcdCredentialsException e)
        {
            throw StrataException.Invalid(e.Flag, e.Message);
        }
    }

    /// <summary>
    /// How this node proves itself to etcd. The password is read from <c>--etcd-password-file</c> (which must not be
    /// readable by others) or <see cref="PasswordVariable"/>; a user without one, or a password without a user, is refused.
    /// </summary>
    public Strata.Cluster.Etcd.EtcdCredentials EtcdCredentials()
    {
        string? password = null;
        var source = "--etcd-password-file";
        if (EtcdPasswordFile is { } file)
        {
            if (!File.Exists(file))
            {
                throw StrataException.Invalid("--etcd-password-file", $"{file} does not exist: put the etcd user's password in it (mode 0600)");
            }
            if ((File.GetUnixFileMode(file) & (UnixFileMode.OtherRead | UnixFileMode.GroupRead)) != 0)
            {
                throw StrataException.Invalid("--etcd-password-file", $"{file} is readable by others; the etcd password must be private: chmod 600 {file}");
            }
            password = File.ReadAllText(file).TrimEnd('\r', '\n');
            source = "--etcd-password-file " + file;
        }
        else if (Environment.GetEnvironmentVariable(PasswordVariable) is { Length: > 0 } fromEnvironment)
        {
            password = fromEnvironment;
            source = PasswordVariable;
        }
        if (EtcdUser is null && EtcdPasswordFile is not null)
        {
            throw StrataException.Invalid("--etcd-password-file", "an etcd password needs its user: give --etcd-user NAME too");
        }
        if (EtcdUser is not null && string.IsNullOrEmpty(password))
        {
            throw StrataException.Invalid("--etcd-user", $"etcd user '{EtcdUser}' needs a password: --etcd-password-file PATH (mode 0600) or the {PasswordVariable} variable (never a flag)");
        }
        return new Strata.Cluster.Etcd.EtcdCredentials
        {
            CaFile = EtcdCaFile,
            CertFile = EtcdCertFile,
            KeyFile = EtcdKeyFile,
            User = EtcdUser,
            Password = EtcdUser is null ? null : password,
            PasswordSource = source,
        };
    }

    public Strata.Cluster.ClusterOptions ToClusterOptions() => new()
    {
        LeaseTtl = LeaseTtl,
        OfflineAfter = LeaseTtl * 2 > TimeSpan.FromSeconds(20) ? LeaseTtl * 2 : TimeSpan.FromSeconds(20),
        ReplacementGrace = ReplacementGrace,
    };
}
