using Strata.Cluster.Etcd;
using Strata.Control.Projects;

namespace Strata.Daemon.Cluster;

/// <summary>
/// Keeps this node's view of projects and tokens equal to the cluster's: it watches <c>projects/</c> and
/// <c>tokens/</c> in etcd and reloads the <see cref="ProjectService"/> on every change, so a token made on one
/// node authenticates on every node (one used before the watch brought it is looked up in etcd: ProjectService.AuthenticateAsync), and a revoked one is refused everywhere within the watch's delay
/// (milliseconds; at once on the node that revoked it).
/// </summary>
public sealed class ProjectSync(EtcdConnection etcd, ProjectService projects, ILogger<ProjectSync> log) : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private Task[] _loops = [];

    public void Start()
    {
        projects.SharedStore = true;
        _loops = [.. new[] { Strata.Cluster.ClusterKeys.Projects, Strata.Cluster.ClusterKeys.Tokens }
            .Select(prefix => Strata.Cluster.SupervisedLoop.Start("following " + prefix + " (projects and tokens may be stale until it resumes)",
                ct => FollowAsync(prefix, ct), log, _stop.Token))];
    }

    /// <summary>Reloads the projects, then again on every change under <paramref name="prefix"/> (a supervised pass).</summary>
    private async Task FollowAsync(string prefix, CancellationToken ct)
    {
        var revision = (await etcd.GetAsync(prefix, ct).ConfigureAwait(false)).Header.Revision;
        await projects.ReloadAsync(ct).ConfigureAwait(false);
        await foreach (var _ in etcd.WatchPrefixAsync(prefix, revision, ct).ConfigureAwait(false))
        {
            await projects.ReloadAsync(ct).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(_loops).ConfigureAwait(false);
        _stop.Dispose();
    }
}
