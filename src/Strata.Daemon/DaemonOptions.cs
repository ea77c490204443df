using System.Globalization;
using System.Net;
using Strata.Contracts;

namespace Strata.Daemon;

/// <summary>
/// Every setting of stratad, parsed and validated in one place.
/// To add a setting: add the property, parse it in <see cref="Parse"/>, validate it in <see cref="Validate"/>,
/// document it in docs/daemon-behavior.md and docs/cli.md (the <c>strata daemon</c> flags).
/// </summary>
public sealed record DaemonOptions
{
    public const string DefaultRoot = "/var/lib/strata";
    public const string DefaultSocket = "/run/strata/strata.sock";

    /// <summary>Data root: state.db, instances/, images, run/.</summary>
    public string Root { get; init; } = DefaultRoot;

    /// <summary>The unix socket for administrators (mode 0660, group <c>strata</c> when it exists).</summary>
    public string Socket { get; init; } = DefaultSocket;

    /// <summary>
    /// The node's name (<c>--node</c>, default <c>local</c>): the host-global names this daemon makes (cgroup parents,
    /// bridges, taps, namespaces, iptables chains, runtime roots) derive from it, so daemons with different roots,
    /// sockets and node names share one host; a cluster knows its members by it.
    /// </summary>
    public string Node { get; init; } = Strata.Contracts.Host.NodeName.Default;

    /// <summary>Optional loopback/TCP listener; requires a bearer token.</summary>
    public IPEndPoint? Listen { get; init; }

    /// <summary>File holding the bearer token for the TCP listener; generated (0600) under the root when not given.</summary>
    public string? TokenFile { get; init; }

    /// <summary>PEM certificate (chain) for the TCP listener; with <see cref="TlsKey"/>, the listener speaks only HTTPS.</summary>
    public string? TlsCertificate { get; init; }

    /// <summary>PEM private key of <see cref="TlsCertificate"/>.</summary>
    public string? TlsKey { get; init; }

    /// <summary>Cluster mode (<c>--cluster etcd://…</c>, docs/cluster.md); null on a single host, which keeps SQLite only.</summary>
    public Strata.Daemon.Cluster.ClusterDaemonOptions? Cluster { get; init; }

    /// <summary>Offer the in-memory <c>fake</c> tier (tests only).</summary>
    public bool EnableFakeTier { get; init; }

    /// <summary>Start sandboxes from their image's booted template (docs/sandbox.md#templates); <c>--no-sandbox-templates</c>: always cold.</summary>
    public bool SandboxTemplates { get; init; } = true;

    /// <summary>Start OCI VMs (first and <c>--disposable</c> starts) from their image's booted template (docs/vm.md#templates); <c>--no-vm-templates</c>: always cold.</summary>
    public bool VmTemplates { get; init; } = true;

    /// <summary>Log cap per instance file (two files are kept: current and one rotated).</summary>
    public long LogMaxBytes { get; init; } = 10 * 1024 * 1024;

    /// <summary>Seconds between two usage samples of every running instance (right-sizing); 0 turns sampling off.</summary>
    public double UsageIntervalSeconds { get; init; } = 10;

    /// <summary>Right-sizing in <c>auto</c>: at most one change per this many seconds per instance (an OOM bump excepted).</summary>
    public double RightsizeCooldownSeconds { get; init; } = 3600;

    /// <summary>Right-sizing in <c>auto</c>: samples in a row a limit must be more than 10 % off before it changes.</summary>
    public int RightsizeSamples { get; init; } = 6;

    /// <summary>Path of the strata-supervisor binary (default: next to stratad, then PATH).</summary>
    public string? Supervisor { get; init; }

    /// <summary>Registries (HOST:PORT) that image pulls may reach over plain HTTP (<c>--insecure-registry</c>, repeatable).</summary>
    public IReadOnlyList<string> InsecureRegistries { get; init; } = [];
    /// <summary>OCI runtime for the container tier (<c>runc</c>, <c>crun</c> or a path); null: probe, prefer runc.</summary>
    public string? OciRuntime { get; init; }

    /// <summary>
    /// Turn on the cgroup2 option <c>favordynmods</c> at start (the default; <c>--no-favordynmods</c> leaves the host's
    /// mount as it is). Without it every move of a process into a cgroup may wait for an RCU grace period.
    /// </summary>
    public bool FavorDynMods { get; init; } = true;

    /// <summary>Names served as single-layer images from directories (<c>--image busybox=/srv/rootfs/busybox</c>), beside <c>dir:/path</c>.</summary>
    public IReadOnlyDictionary<string, string> Images { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// Bounds on what an image layer or an imported archive may expand to (<c>--unpack-max-size</c>,
    /// <c>--unpack-max-ratio</c>, <c>--unpack-min-free</c>); a decompression bomb stops with an error naming the limit.
    /// </summary>
    public Strata.Images.Layers.UnpackLimits Unpack { get; init; } = Strata.Images.Layers.UnpackLimits.Default;

    /// <summary>Names and ranges of bridge networks (docs/network.md); null: the defaults, state under ROOT/networks. Not a flag: for tests and embedding.</summary>
    public Strata.Node.Networking.NetworkOptions? Networks { get; init; }

    /// <summary>
    /// Sockets speaking the Docker Engine API (docs/docker-api.md). Empty when embedded; <see cref="Parse"/> adds
    /// the node's default socket (<see cref="Strata.Node.NodeScope.DockerSocket"/>: <see cref="DockerApi.DockerSocketOptions.DefaultPath"/> on node local) unless <c>--docker-socket</c> or <c>--no-docker-socket</c> is given.
    /// </summary>
    public IReadOnlyList<DockerApi.DockerSocketOptions> DockerSockets { get; init; } = [];

    public static DaemonOptions Parse(string[] args)
    {
        var o = new DaemonOptions();
        var noDockerSocket = false;
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            string Value()
            {
                var eq = arg.IndexOf('=', StringComparison.Ordinal);
                if (eq > 0)
                {
                    return arg[(eq + 1)..];
                }
                if (i + 1 >= args.Length)
                {
                    throw StrataException.Invalid(arg, "needs a value");
                }
                return args[++i];
            }
            DaemonOptions NoDockerSocket()
            {
                noDockerSocket = true;
                return o;
            }
            var flag = arg.Split('=', 2)[0];
            o = flag switch
            {
                "--root" => o with { Root = Value() },
                "--socket" => o with { Socket = Value() },
                "--node" => o with { Node = Value() },
                "--listen" => o with { Listen = ParseEndpoint(Value()) },
                "--token-file" => o with { TokenFile = Value() },
                "--tls-cert" => o with { TlsCertificate = Value() },
                "--tls-key" => o with { TlsKey = Value() },
                "--enable-fake-tier" => o with { EnableFakeTier = true },
                "--no-sandbox-templates" => o with { SandboxTemplates = false },
                "--no-vm-templates" => o with { VmTemplates = false },
                "--log-max-size" => o with { LogMaxBytes = Sizes.Parse("--log-max-size", Value()) },
                "--supervisor" => o with { Supervisor = Value() },
                "--usage-interval" => o with { UsageIntervalSeconds = ParseSeconds("--usage-interval", Value()) },
                "--rightsize-cooldown" => o with { RightsizeCooldownSeconds = ParseCooldown(Value()) },
                "--rightsize-samples" => o with { RightsizeSamples = ParseSamples(Value()) },
                "--insecure-registry" => o with { InsecureRegistries = [.. o.InsecureRegistries, ParseRegistry(Value())] },
                "--oci-runtime" => o with { OciRuntime = Value() },
                "--image" => o with { Images = AddImage(o.Images, Value()) },
                "--no-favordynmods" => o with { FavorDynMods = false },
                "--unpack-max-size" => o with { Unpack = o.Unpack with { MaxBytes = Sizes.Parse("--unpack-max-size", Value()) } },
                "--unpack-max-ratio" => o with { Unpack = o.Unpack with { MaxRatio = ParseRatio(Value()) } },
                "--unpack-min-free" => o with { Unpack = o.Unpack with { MinFreeBytes = Sizes.Parse("--unpack-min-free", Value()) } },
                "--docker-socket" or "--project" or "--socket-group" => o with { DockerSockets = DockerApi.DockerSocketOptions.Apply(o.DockerSockets, flag, Value()) },
                "--no-docker-socket" => NoDockerSocket(),
                _ when Strata.Daemon.Cluster.ClusterDaemonOptions.Flags.Contains(flag)
                    => o with { Cluster = Strata.Daemon.Cluster.ClusterDaemonOptions.Apply(o.Cluster, flag, Value()) },
                _ => throw StrataException.Invalid(flag, $"unknown option '{flag}'; see 'strata daemon --help'"),
            };
        }
        if (noDockerSocket && o.DockerSockets.Count > 0)
        {
            throw StrataException.Invalid("--no-docker-socket", "contradicts --docker-socket; give one of them");
        }
        if (!noDockerSocket && o.DockerSockets.Count == 0)
        {
            // Named after the node: a second node on the host does not meet the first one's socket.
            Strata.Contracts.Host.NodeName.Validate("--node", o.Node);
            o = o with { DockerSockets = [new DockerApi.DockerSocketOptions(new Strata.Node.NodeScope(o.Node).DockerSocket)] };
        }
        o.Validate();
        return o;
    }

    private static double ParseCooldown(string text) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds is >= 0 and <= 7 * 86400
            ? seconds
            : throw StrataException.Invalid("--rightsize-cooldown", $"'{text}' is not a number of seconds between 0 and a week (604800); default 3600");

    private static int ParseSamples(string text) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= 10_000
            ? n
            : throw StrataException.Invalid("--rightsize-samples", $"'{text}' is not a whole number from 1 to 10000; default 6");

    private static double ParseSeconds(string flag, string text) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && (seconds == 0 || seconds is >= 0.1 and <= 3600)
            ? seconds
            : throw StrataException.Invalid(flag, $"'{text}' is not a number of seconds between 0.1 and 3600 (0 turns usage sampling off; default 10)");

    private static long ParseRatio(string text) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var ratio) && ratio >= 2
            ? ratio
            : throw StrataException.Invalid("--unpack-max-ratio", $"'{text}' is not a whole number of at least 2 (uncompressed bytes per compressed byte; default 100)");

    private static Dictionary<string, string> AddImage(IReadOnlyDictionary<string, string> images, string value)
    {
        var eq = value.IndexOf('=', StringComparison.Ordinal);
        if (eq <= 0 || !Path.IsPathRooted(value[(eq + 1)..]))
        {
            throw StrataException.Invalid("--image", $"'{value}' is not NAME=/absolute/rootfs/dir");
        }
        return new Dictionary<string, string>(images) { [value[..eq]] = value[(eq + 1)..] };
    }

    private void Validate()
    {
        Strata.Contracts.Host.NodeName.Validate("--node", Node);
        Cluster?.Validate(this);
        if (!Path.IsPathRooted(Root))
        {
            throw StrataException.Invalid("--root", $"'{Root}' must be an absolute path");
        }
        if (!Path.IsPathRooted(Socket))
        {
            throw StrataException.Invalid("--socket", $"'{Socket}' must be an absolute path");
        }
        if (System.Text.Encoding.UTF8.GetByteCount(Socket) > 107)
        {
            throw StrataException.Invalid("--socket", $"'{Socket}' is longer than the 107 bytes a unix socket path may have; choose a shorter path");
        }
        if ((TlsCertificate is null) != (TlsKey is null))
        {
            throw StrataException.Invalid(TlsCertificate is null ? "--tls-cert" : "--tls-key", "TLS needs both --tls-cert and --tls-key (PEM files)");
        }
        if (TlsCertificate is not null && Listen is null)
        {
            throw StrataException.Invalid("--tls-cert", "TLS is for the TCP listener; give --listen ADDR:PORT too");
        }
        foreach (var (flag, path) in new[] { ("--tls-cert", TlsCertificate), ("--tls-key", TlsKey) })
        {
            if (path is not null && !File.Exists(path))
            {
                throw StrataException.Invalid(flag, $"'{path}' does not exist; give a PEM file");
            }
        }
        if (Unpack.MaxBytes < 1 << 20)
        {
            throw StrataException.Invalid("--unpack-max-size", "must be at least 1M");
        }
        if (LogMaxBytes < 4096)
        {
            throw StrataException.Invalid("--log-max-size", "must be at least 4K");
        }
    }

    private static string ParseRegistry(string text)
    {
        var t = text.Trim();
        if (t.Length == 0 || t.Contains("://", StringComparison.Ordinal) || t.Contains('/', StringComparison.Ordinal) || t.Any(char.IsWhiteSpace))
        {
            throw StrataException.Invalid("--insecure-registry", $"'{text}' is not a registry HOST[:PORT] such as 127.0.0.1:5000 (no scheme, no path)");
        }
        return t;
    }

    private static IPEndPoint ParseEndpoint(string text)
    {
        if (!IPEndPoint.TryParse(text, out var endpoint) || endpoint.Port == 0)
        {
            throw StrataException.Invalid("--listen", $"'{text}' is not an address:port such as 127.0.0.1:7070");
        }
        return endpoint;
    }
}
