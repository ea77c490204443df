using System.Globalization;
using System.Text.Json;
using Strata.Cluster;
using Strata.Contracts;
using Strata.Control;
using Strata.Control.Projects;

namespace Strata.Daemon.Cluster;

/// <summary>
/// The node agent's hands: cluster instances run through this node's own <see cref="InstanceService"/> and
/// drivers like any instance, labelled with their cluster generation so a stale copy is recognised.
/// </summary>
public sealed class DaemonWorkloads(InstanceService instances, ProjectService projects) : IClusterWorkloads
{
    public const string GenerationLabel = "strata.cluster/generation";

    public Task<IReadOnlyList<LocalCopy>> ListAsync(CancellationToken ct) =>
        Task.FromResult<IReadOnlyList<LocalCopy>>([.. instances.List()
            .Where(r => r.Spec.Labels?.ContainsKey(GenerationLabel) == true)
            .Select(r => new LocalCopy(r.Project, r.Name,
                long.Parse(r.Spec.Labels![GenerationLabel], NumberStyles.None, CultureInfo.InvariantCulture), r.State.ToName()))]);

    public async Task RunAsync(DesiredInstance desired, CancellationToken ct)
    {
        if (projects.Find(desired.Project) is null)
        {
            // Projects live in etcd: one admitted on another node a moment ago may not have reached this view yet.
            await projects.ReloadAsync(ct).ConfigureAwait(false);
            _ = projects.Find(desired.Project) ?? throw Control.Projects.ProjectService.NoProject(desired.Project);
        }
        var spec = (desired.Spec is { } json ? JsonSerializer.Deserialize(json, StrataJsonContext.Default.InstanceSpec) : null) ?? new InstanceSpec();
        var labels = new Dictionary<string, string>(spec.Labels ?? new Dictionary<string, string>(), StringComparer.Ordinal)
        {
            [GenerationLabel] = desired.Generation.ToString(CultureInfo.InvariantCulture),
        };
        spec = spec with { Name = desired.Name, Tier = desired.Tier, Labels = labels };
        await instances.CreateAsync(spec, start: true, desired.Project, ct).ConfigureAwait(false);
    }

    public async Task RemoveAsync(string project, string name, CancellationToken ct)
    {
        try
        {
            await instances.DeleteAsync(project, name, force: true, ct).ConfigureAwait(false);
        }
        catch (StrataException e) when (e.Kind == ErrorKind.NotFound)
        {
        }
    }
}
