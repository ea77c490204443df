using Strata.Control;
using Strata.Control.Projects;
using Strata.Daemon.Cluster;

namespace Strata.Daemon;

/// <summary>The daemon's hooks for cluster mode (<c>--cluster</c>); without it neither does anything.</summary>
public sealed partial class DaemonHost
{
    private static void AddCluster(IServiceCollection services, DaemonOptions options)
    {
        if (options.Cluster is null)
        {
            return;
        }
        services.AddSingleton(_ => new Strata.Cluster.Etcd.EtcdConnection(options.Cluster.Etcd, credentials: options.Cluster.EtcdCredentials()));
        services.AddSingleton(sp => new ClusterNode(options, sp.GetRequiredService<Strata.Cluster.Etcd.EtcdConnection>(), sp.GetRequiredService<InstanceService>(),
            sp.GetRequiredService<ProjectService>(), sp.GetRequiredService<Strata.Control.Usage.UsageSampler>(), sp.GetRequiredService<ILoggerFactory>(),
            sp.GetService<Strata.Node.Guest.GuestPipeline>()));
        services.AddSingleton<ProjectSync>();
    }

    /// <summary>In a cluster, the cluster's instances are resized against their project's quota in etcd, across every node.</summary>
    private static IResizeQuota? ResizeQuota(IServiceProvider services, DaemonOptions options) =>
        options.Cluster is null ? null
            : new ClusterResizeQuota(new Strata.Cluster.ClusterInstances(services.GetRequiredService<Strata.Cluster.Etcd.EtcdConnection>(), options.Cluster.ToClusterOptions()));

    /// <summary>Projects and tokens: the node's SQLite on a single host, etcd in a cluster (every node sees the same).</summary>
    private static Strata.Store.IProjectStore ProjectStore(IServiceProvider services, DaemonOptions options) =>
        options.Cluster is null
            ? services.GetRequiredService<Strata.Store.SqliteStateStore>()
            : new EtcdProjectStore(services.GetRequiredService<Strata.Cluster.Etcd.EtcdConnection>());

    /// <summary>Before the API listens: a node whose cluster token is not the cluster's stops here (docs/cluster.md).</summary>
    private static async Task CheckClusterTokenAsync(IServiceProvider services, CancellationToken ct)
    {
        if (services.GetService<ClusterNode>() is { } node)
        {
            try
            {
                await node.CheckTokenAsync(ct).ConfigureAwait(false);
            }
            catch (Strata.Cluster.Etcd.EtcdUnavailableException e)
            {
                var hint = node.Etcd.Tls ? "" : " (If etcd serves TLS, https client URLs, give --etcd-cacert, and --etcd-cert with --etcd-key when it runs with --client-cert-auth: docs/cluster.md.)";
                throw new Strata.Contracts.StrataException(Strata.Contracts.ErrorKind.Unavailable, e.Message + hint, inner: e);
            }
            catch (Strata.Cluster.Etcd.EtcdRequestException e)
            {
                throw new Strata.Contracts.StrataException(Strata.Contracts.ErrorKind.Unauthorized, e.Message, inner: e);
            }
        }
    }

    /// <summary>Joins the cluster once the API listens: the node record, then its agent and its campaign.</summary>
    private static async Task StartClusterAsync(IServiceProvider services, CancellationToken ct)
    {
        if (services.GetService<ClusterNode>() is { } node)
        {
            services.GetRequiredService<ProjectSync>().Start();
            await node.StartAsync(ct).ConfigureAwait(false);
        }
    }
}
