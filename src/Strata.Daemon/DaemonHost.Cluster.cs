using Strata.Control;
using Strata.Control.Projects;
using Strata.Daemon.Cluster;

namespace Strata.Daemon;

/// <summary>The daemon's two hooks for cluster mode (<c>--cluster</c>); without it neither does anything.</summary>
public sealed partial class DaemonHost
{
    private static void AddCluster(IServiceCollection services, DaemonOptions options)
    {
        if (options.Cluster is null)
        {
            return;
        }
        services.AddSingleton(sp => new ClusterNode(options, sp.GetRequiredService<InstanceService>(), sp.GetRequiredService<ProjectService>(), sp.GetRequiredService<ILoggerFactory>()));
    }

    /// <summary>Joins the cluster once the API listens: the node record, then its agent and its campaign.</summary>
    private static async Task StartClusterAsync(IServiceProvider services, CancellationToken ct)
    {
        if (services.GetService<ClusterNode>() is { } node)
        {
            await node.StartAsync(ct).ConfigureAwait(false);
        }
    }
}
