using Strata.Contracts;
using Strata.Node.Drivers.Container;

namespace Strata.Daemon.DockerApi;

/// <summary>
/// A cold move carrying managed volumes (docs/move.md): the source names, digests, packs and afterwards removes them;
/// the target checks for a volume of the same name with other content and takes the packed files into its store for
/// the same project.
/// </summary>
internal sealed partial class DockerVolumes
{
    public string? NameAt(string project, string hostPath)
    {
        var relative = Path.GetRelativePath(ProjectDirectory(project), hostPath);
        var parts = relative.Split('/');
        return parts is [var name, "_data"] && NamePattern().IsMatch(name) && Exists(project, name) ? name : null;
    }

    public string Digest(string project, string name) => FileTreeArchive.Digest(PathOf(project, name));

    public IReadOnlyDictionary<string, string> Labels(string project, string name) => Get(project, name).Labels;

    public Task PackAsync(string project, string name, string archive) =>
        FileTreeArchive.PackAsync(PathOf(project, name), archive, $"packing volume {name}");

    public void Remove(string project, string name)
    {
        lock (_lock)
        {
            Directory.Delete(VolumeDirectory(project, name), recursive: true);
        }
    }

    /// <summary>Whether this project's volume <paramref name="name"/> can take a carried one with <paramref name="digest"/>: absent, or the same files.</summary>
    public VolumeArrival CheckMoveIn(string project, string name, string digest)
    {
        ValidateName(name, "volume");
        if (!Exists(project, name))
        {
            return new VolumeArrival { Path = PathOf(project, name), Created = true };
        }
        return Digest(project, name) == digest
            ? new VolumeArrival { Path = PathOf(project, name), Created = false }
            : throw StrataException.Conflict(
                $"volume '{name}' of project '{project}' already exists on the target with other content, and a move does not overwrite it; " +
                $"remove it there (docker volume rm {name}, once no container uses it) or rename the volume here, then move again");
    }

    /// <summary>
    /// Takes a carried volume's packed files (<paramref name="body"/>) into this project's store, with their owners and
    /// modes, and its Docker labels (a volume already here with the same files keeps its own). The files are extracted beside the store and moved in last, so a failure leaves no volume behind.
    /// </summary>
    public async Task<VolumeArrival> MoveInAsync(string project, string name, Stream body, string digest, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken)
    {
        var check = CheckMoveIn(project, name, digest);
        if (!check.Created)
        {
            return check;
        }
        var incoming = Path.Combine(Root, ".incoming", project, name + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(incoming, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        try
        {
            var archive = Path.Combine(incoming, "volume.tar");
            await using (var file = File.Create(archive))
            {
                await body.CopyToAsync(file, cancellationToken).ConfigureAwait(false);
            }
            var data = Path.Combine(incoming, "_data");
            Directory.CreateDirectory(data);
            await FileTreeArchive.UnpackAsync(archive, data, $"receiving volume {name}").ConfigureAwait(false);
            if (FileTreeArchive.Digest(data) != digest)
            {
                throw StrataException.Invalid("digest", $"volume '{name}' arrived with other files than the source sent (digest differs); move again");
            }
            lock (_lock)
            {
                if (Exists(project, name))
                {
                    throw StrataException.Conflict($"volume '{name}' of project '{project}' was created on the target during the move; remove it there or rename it here, then move again");
                }
                var dir = VolumeDirectory(project, name);
                Directory.CreateDirectory(dir);
                File.WriteAllText(Path.Combine(dir, "labels.json"),
                    System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, string>(labels), DockerJsonContext.Default.DictionaryStringString));
                Directory.Move(data, PathOf(project, name)); // last: its existence is the volume's
            }
            return check;
        }
        finally
        {
            Directory.Delete(incoming, recursive: true);
        }
    }
}
