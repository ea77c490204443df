using System.Text.Json;
using System.Text.RegularExpressions;
using Strata.Contracts;

namespace Strata.Daemon.DockerApi;

/// <summary>
/// Docker named volumes: directories Strata manages under <c>ROOT/volumes/PROJECT/NAME/_data</c>, with the
/// volume's labels beside them. Each project has its own names; a volume is bind-mounted into containers.
/// </summary>
internal sealed partial class DockerVolumes(string root) : Control.IManagedVolumes
{
    private readonly Lock _lock = new();

    [GeneratedRegex("^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$")]
    private static partial Regex NamePattern();

    public static void ValidateName(string name, string field)
    {
        if (!NamePattern().IsMatch(name))
        {
            throw StrataException.Invalid(field, $"'{name}' is not a volume name: use letters, digits, '_', '.' or '-', starting with a letter or digit (or give an absolute host path to bind)");
        }
    }

    /// <summary>Where every project's volumes live.</summary>
    public string Root { get; } = Path.Combine(root, "volumes");

    private string ProjectDirectory(string project) => Path.Combine(Root, project);

    private string VolumeDirectory(string project, string name) => Path.Combine(ProjectDirectory(project), name);

    public string PathOf(string project, string name) => Path.Combine(VolumeDirectory(project, name), "_data");

    public bool Exists(string project, string name) => Directory.Exists(PathOf(project, name));

    public DockerVolume Create(string project, string name, IReadOnlyDictionary<string, string>? labels)
    {
        ValidateName(name, "Name");
        lock (_lock)
        {
            if (!Exists(project, name))
            {
                var dir = VolumeDirectory(project, name);
                Directory.CreateDirectory(dir);
                File.WriteAllText(Path.Combine(dir, "labels.json"),
                    JsonSerializer.Serialize(new Dictionary<string, string>(labels ?? new Dictionary<string, string>()), DockerJsonContext.Default.DictionaryStringString));
                Directory.CreateDirectory(PathOf(project, name)); // last: its existence is the volume's
            }
        }
        return Get(project, name);
    }

    public DockerVolume Get(string project, string name)
    {
        if (!NamePattern().IsMatch(name) || !Exists(project, name))
        {
            throw StrataException.NotFound($"get {name}: no such volume");
        }
        var dir = VolumeDirectory(project, name);
        Dictionary<string, string> labels = [];
        try
        {
            labels = JsonSerializer.Deserialize(File.ReadAllText(Path.Combine(dir, "labels.json")), DockerJsonContext.Default.DictionaryStringString) ?? [];
        }
        catch (Exception e) when (e is IOException or JsonException)
        {
        }
        return new DockerVolume
        {
            Name = name,
            Mountpoint = PathOf(project, name),
            CreatedAt = Directory.GetCreationTimeUtc(PathOf(project, name)).ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture),
            Labels = labels,
        };
    }

    public IReadOnlyList<DockerVolume> List(string project) =>
        Directory.Exists(ProjectDirectory(project))
            ? [.. Directory.GetDirectories(ProjectDirectory(project)).Select(Path.GetFileName).Where(n => Exists(project, n!)).Order(StringComparer.Ordinal).Select(n => Get(project, n!))]
            : [];

    /// <summary>Removes the volume and everything in it; 409 while a container mounts it.</summary>
    public void Remove(string project, string name, IEnumerable<Store.InstanceRecord> instances, bool force)
    {
        var path = Get(project, name).Mountpoint;
        var users = instances.Where(i => i.Spec.Mounts?.Any(m => m.Source == path) == true).Select(i => i.Name).ToList();
        if (users.Count > 0)
        {
            throw StrataException.Conflict($"remove {name}: volume is in use by container(s) {string.Join(", ", users)}; remove them first");
        }
        _ = force;
        lock (_lock)
        {
            Directory.Delete(VolumeDirectory(project, name), recursive: true);
        }
    }
}
