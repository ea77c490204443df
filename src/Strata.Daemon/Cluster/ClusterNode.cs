using System.Runtime.InteropServices;
using Strata.Cluster;
using Strata.Cluster.Etcd;
using Strata.Contracts;
using Strata.Control;
using Strata.Control.Projects;

namespace Strata.Daemon.Cluster;

/// <summary>
/// This daemon as a cluster node: its membership (record under a lease), its agent (runs what is assigned to it
/// through the local instance service), and its campaign for the scheduler leadership. Built only with
/// <c>--cluster</c>; the single host never creates one.
/// </summary>
public sealed partial class ClusterNode : IAsyncDisposable
{
    private readonly NodeMembership _membership;
    private readonly NodeAgent _agent;
    private readonly NodeLoadPublisher _loads;

    /// <param name="etcd">The daemon's one connection to etcd (its projects and tokens use it too); disposed by the daemon.</param>
    /// <param name="guest">The guest tiers' pipeline: its accelerator is the node's, and its guests start with the cluster's CPU baseline.</param>
    public ClusterNode(DaemonOptions daemon, EtcdConnection etcd, InstanceService instances, ProjectService projects, Strata.Control.Usage.UsageSampler usage, ILoggerFactory logs,
        Strata.Node.Guest.GuestPipeline? guest = null)
    {
        var options = daemon.Cluster ?? throw new ArgumentException("not a cluster node", nameof(daemon));
        Name = daemon.Node;
        TokenFile = options.TokenFile;
        Token = ClusterTrust.Read(options.TokenFile);
        Forwarder = new NodeForwarder(daemon.Node, Token);
        Options = options.ToClusterOptions();
        Etcd = etcd;
        Instances = new ClusterInstances(Etcd, Options);
        var advertise = options.Advertise ?? daemon.Listen!.ToString();
        var pin = daemon.TlsCertificate is { } cert ? CertificatePin(cert, daemon.TlsKey) : null;
        _membership = new NodeMembership(Etcd, Options, () => Describe(daemon.Node, advertise, instances, daemon.Root) with { Tls = pin is not null, CertificateSha256 = pin, Cpu = _cpu, Accelerator = _cpu?.Accelerator },
            logs.CreateLogger<NodeMembership>());
        _agent = new NodeAgent(Etcd, _membership, new DaemonWorkloads(instances, projects), daemon.Node, logs.CreateLogger<NodeAgent>());
        Scheduler = new Strata.Scheduler.Scheduler();
        Leader = new SchedulerLeader(Etcd, Options, daemon.Node, Scheduler, logs.CreateLogger<SchedulerLeader>());
        ListCache = new InstanceListCache(Etcd, ClusterApi.Shape, logs.CreateLogger<InstanceListCache>());
        _loads = new NodeLoadPublisher(Etcd, _membership, daemon.Node, _ => Task.FromResult(Predictions(usage)),
            TimeSpan.FromSeconds(Math.Max(10, daemon.UsageIntervalSeconds)), logs.CreateLogger<NodeLoadPublisher>());
        _rebalancer = CreateRebalancer(options, logs);
        _instances = instances;
        _guest = guest;
        _log = logs.CreateLogger<ClusterNode>();
        if (guest is not null)
        {
            // KVM guests created on this node start with the cluster's baseline model (docs/cluster.md "CPU baseline").
            guest.ClusterCpuModel = async ct => Baseline(await ClusterView.NodesAsync(Etcd, ct).ConfigureAwait(false)).Model;
        }
    }

    public string Name { get; }
    public ClusterOptions Options { get; }
    public EtcdConnection Etcd { get; }
    public ClusterInstances Instances { get; }
    public SchedulerLeader Leader { get; }

    /// <summary>The placement pipeline: the leader's, and the drain's choice of targets (<see cref="ClusterDrain"/>).</summary>
    public Strata.Scheduler.Scheduler Scheduler { get; }

    /// <summary>What <c>GET /v1/instances</c> answers from: every instance already shaped, kept current by a watch.</summary>
    public InstanceListCache ListCache { get; }

    /// <summary>This node's lease: what its records (and the marker of a move it drives) live under.</summary>
    public long Lease => _membership.Lease;

    /// <summary>The cluster token: presented to other nodes, and accepted from them.</summary>
    public string Token { get; }
    public string TokenFile { get; }

    /// <summary>Relays requests about instances that run on other nodes to those nodes.</summary>
    public NodeForwarder Forwarder { get; }

    /// <summary>Refuses to go on unless this node's cluster token is the cluster's (before the API listens).</summary>
    public Task CheckTokenAsync(CancellationToken ct) => ClusterTrust.JoinAsync(Etcd, Token, TokenFile, ct);

    private static string CertificatePin(string certificate, string? key)
    {
        using var cert = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(certificate, key);
        return NodeForwarder.Pin(cert);
    }

    /// <summary>Joins (waits until etcd takes the node record), then starts the agent and the campaign.</summary>
    public async Task StartAsync(CancellationToken ct)
    {
        _cpu = await ProbeCpuAsync(ct).ConfigureAwait(false);
        await _membership.StartAsync(ct).ConfigureAwait(false);
        ListCache.Start();
        _agent.Start();
        Leader.Start();
        _loads.Start();
        StartRebalancer();
    }

    /// <summary>What this host offers: cores, memory, the data root's free disk, pid space, the tiers whose engines are here.</summary>
    private static NodeRecord Describe(string node, string advertise, InstanceService instances, string root)
    {
        var memory = MemTotal();
        var disk = new DriveInfo(root).AvailableFreeSpace;
        var pids = long.TryParse(File.ReadAllText("/proc/sys/kernel/pid_max").Trim(), out var p) ? p : 32_768;
        var capacity = new ResourceAmounts(Environment.ProcessorCount * 1000L, memory, disk, pids);
        var tiers = instances.Drivers.All
            .Where(d => instances.Drivers.IsAvailable(d.Tier))
            .Select(d => new TierOffer(d.Tier.ToName(), instances.Drivers.Fingerprint(d.Tier).Engine))
            .ToList();
        return new NodeRecord
        {
            Name = node,
            Address = advertise,
            Capacity = capacity,
            Free = capacity,
            Tiers = tiers,
            Arch = RuntimeInformation.OSArchitecture == Architecture.Arm64 ? "aarch64" : "x86_64",
        };
    }

    private static long MemTotal()
    {
        foreach (var line in File.ReadLines("/proc/meminfo"))
        {
            if (line.StartsWith("MemTotal:", StringComparison.Ordinal))
            {
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
            }
        }
        return 0;
    }

    /// <summary>Stops the agent and the campaign; the lease lapses on its own (workloads keep running, as on any daemon stop).</summary>
    public async ValueTask DisposeAsync()
    {
        await StopRebalancerAsync().ConfigureAwait(false);
        await _loads.DisposeAsync().ConfigureAwait(false);
        await Leader.DisposeAsync().ConfigureAwait(false);
        await ListCache.DisposeAsync().ConfigureAwait(false);
        await _agent.DisposeAsync().ConfigureAwait(false);
        await _membership.DisposeAsync().ConfigureAwait(false);
        Forwarder.Dispose();
    }
}
