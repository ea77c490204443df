using System.Text.Json;
using Strata.Contracts.Host;

namespace Strata.Daemon.DockerApi;

/// <summary>
/// What Docker knows of a network that Strata's networks do not keep: the name as the client gave it (Docker
/// allows '_', Strata's network names are DNS labels: <c>app_default</c> is Strata's <c>app-default</c>) and its
/// labels. Kept in <c>ROOT/docker-networks.json</c>.
/// </summary>
internal sealed class DockerNetworkNames(string root)
{
    private readonly string _path = Path.Combine(root, "docker-networks.json");
    private readonly Lock _lock = new();

    private static string Key(string project, string strataName) => project + "/" + strataName;

    private Dictionary<string, DockerNetworkMeta> Read()
    {
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllText(_path), DockerJsonContext.Default.DictionaryStringDockerNetworkMeta) ?? [];
        }
        catch (Exception e) when (e is IOException or JsonException)
        {
            return [];
        }
    }

    /// <summary>The Strata network a Docker name means in the project.</summary>
    public string ToStrata(string project, string dockerName)
    {
        lock (_lock)
        {
            foreach (var (key, meta) in Read())
            {
                if (meta.Name == dockerName && key.StartsWith(project + "/", StringComparison.Ordinal))
                {
                    return key[(project.Length + 1)..];
                }
            }
        }
        return dockerName.Replace('_', '-');
    }

    public DockerNetworkMeta? Find(string project, string strataName)
    {
        lock (_lock)
        {
            return Read().GetValueOrDefault(Key(project, strataName));
        }
    }

    public string ToDocker(string project, string strataName) => Find(project, strataName)?.Name ?? strataName;

    public void Set(string project, string strataName, DockerNetworkMeta meta)
    {
        lock (_lock)
        {
            var all = Read();
            all[Key(project, strataName)] = meta;
            Write(all);
        }
    }

    public void Remove(string project, string strataName)
    {
        lock (_lock)
        {
            var all = Read();
            if (all.Remove(Key(project, strataName)))
            {
                Write(all);
            }
        }
    }

    private void Write(Dictionary<string, DockerNetworkMeta> all)
    {
        AtomicFile.WriteAllText(_path, JsonSerializer.Serialize(all, DockerJsonContext.Default.DictionaryStringDockerNetworkMeta));
    }
}

public sealed record DockerNetworkMeta(string Name, Dictionary<string, string> Labels);
