using Strata.Store;

namespace Strata.Daemon.Images;

/// <summary>
/// The unpacked image layers instances stand on. A tier that builds on the image store's layers records their
/// directories in its driver handle (the container tier: its overlay's lower directories, one per line), so the
/// handles of every instance, in any project and any state, name every layer in use; a snapshot belongs to its
/// instance and restores onto the same layers. Removing an image's name leaves these directories alone, and
/// <c>image prune</c> keeps them until the last instance on them is removed.
/// The sandbox and vm tiers copy an image into a base disk they share (under <c>cache/guest/disks</c>) when they
/// create an instance, so image removal and prune cannot reach those at all.
/// </summary>
public static class LayerReferences
{
    /// <summary>Every absolute path named in the instances' handles (a superset of the layers; prune asks by full path).</summary>
    public static HashSet<string> Of(IEnumerable<InstanceRecord> instances)
    {
        var paths = new HashSet<string>(StringComparer.Ordinal);
        foreach (var record in instances)
        {
            if (record.Handle?.Data is not { } data)
            {
                continue;
            }
            foreach (var value in data.Values)
            {
                foreach (var line in value.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                {
                    if (Path.IsPathRooted(line))
                    {
                        paths.Add(Path.TrimEndingDirectorySeparator(Path.GetFullPath(line)));
                    }
                }
            }
        }
        return paths;
    }
}
