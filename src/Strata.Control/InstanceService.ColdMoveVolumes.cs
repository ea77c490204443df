using Strata.Contracts;
using Strata.Contracts.Host;

namespace Strata.Control;

/// <summary>
/// The volumes Strata manages on this daemon (<c>ROOT/volumes/PROJECT/NAME</c>: the Docker API's named volumes), as a
/// cold move carries them (docs/move.md).
/// </summary>
public interface IManagedVolumes
{
    /// <summary>The name of <paramref name="project"/>'s managed volume at <paramref name="hostPath"/>, or null when the path is not one.</summary>
    string? NameAt(string project, string hostPath);

    /// <summary>A digest of the volume's files (paths, kinds, modes, link targets, bytes).</summary>
    string Digest(string project, string name);

    /// <summary>The volume's Docker labels (none: empty).</summary>
    IReadOnlyDictionary<string, string> Labels(string project, string name);

    /// <summary>Packs the volume's files into <paramref name="archive"/> with their owners, modes and xattrs.</summary>
    Task PackAsync(string project, string name, string archive);

    /// <summary>Removes the volume and its files.</summary>
    void Remove(string project, string name);
}

public sealed partial class InstanceService
{
    /// <summary>This daemon's managed volumes, which cold moves carry (none when not set).</summary>
    public IManagedVolumes? ManagedVolumes { get; set; }

    /// <summary>The managed volumes of <paramref name="project"/> that <paramref name="spec"/> mounts: name and host path.</summary>
    private List<(string Name, string Path)> ManagedVolumesOf(string project, InstanceSpec spec) =>
        ManagedVolumes is not { } volumes || spec.Mounts is null
            ? []
            : [.. spec.Mounts.Select(m => (Name: volumes.NameAt(project, m.Source), Path: m.Source)).Where(v => v.Name is not null)
                .Select(v => (v.Name!, v.Path)).Distinct()];

    /// <summary>Before anything stops: the destination refuses a volume it has under the same name with other content.</summary>
    private async Task CheckVolumesAsync(string project, List<(string Name, string Path)> volumes, IColdMoveDestination destination, CancellationToken cancellationToken)
    {
        foreach (var (volume, _) in volumes)
        {
            await destination.CheckVolumeAsync(volume, ManagedVolumes!.Digest(project, volume), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// After the stop: each volume is packed and sent to the destination's store for the project; the returned spec's
    /// mounts name the volumes' paths there. A volume the destination created is removed there by the undo.
    /// </summary>
    private async Task<InstanceSpec> CarryVolumesAsync(string project, InstanceSpec spec, List<(string Name, string Path)> volumes,
        IColdMoveDestination destination, string scratch, Revert revert, CancellationToken cancellationToken)
    {
        if (volumes.Count == 0)
        {
            return spec;
        }
        Dictionary<string, string> paths = [];
        foreach (var (volume, path) in volumes)
        {
            var archive = Path.Combine(scratch, volume + ".volume.tar");
            try
            {
                await ManagedVolumes!.PackAsync(project, volume, archive).ConfigureAwait(false);
                var arrival = await destination.MoveVolumeInAsync(volume, archive, ManagedVolumes.Digest(project, volume), ManagedVolumes.Labels(project, volume), cancellationToken).ConfigureAwait(false);
                if (arrival.Created)
                {
                    revert.AddAsync(() => destination.RemoveVolumeAsync(volume, CancellationToken.None));
                }
                paths[path] = arrival.Path;
            }
            finally
            {
                File.Delete(archive);
            }
        }
        return spec with { Mounts = [.. spec.Mounts!.Select(m => paths.TryGetValue(m.Source, out var there) ? m with { Source = there } : m)] };
    }

    /// <summary>After the switch (the instance removed here): each carried volume that no other instance here mounts is removed; returns those kept.</summary>
    private List<string> RemoveMovedVolumes(string project, string name, List<(string Name, string Path)> volumes)
    {
        List<string> kept = [];
        foreach (var (volume, path) in volumes)
        {
            var users = List(project).Where(i => i.Name != name && i.Spec.Mounts?.Any(m => m.Source == path) == true).Select(i => i.Name).ToList();
            if (users.Count > 0)
            {
                kept.Add($"{volume} (kept here: used by {string.Join(", ", users)})");
                continue;
            }
            try
            {
                ManagedVolumes!.Remove(project, volume);
            }
            catch (IOException e)
            {
                LogBackgroundFailure(name, $"remove the moved volume {volume}", e);
                kept.Add($"{volume} (kept here: {e.Message})");
            }
        }
        return kept;
    }

    /// <summary>What a move carried, with its volumes.</summary>
    private static string CarriedWithVolumes(string carries, List<(string Name, string Path)> volumes) =>
        volumes.Count == 0 ? carries : $"{carries}; volumes {string.Join(", ", volumes.Select(v => v.Name))}";
}
