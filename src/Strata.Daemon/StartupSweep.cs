namespace Strata.Daemon;

/// <summary>
/// Removes what an operation cut short by a crash leaves under the data root, once, at start-up, before anything
/// else runs (the root lock is held, so nothing of this daemon's writes there yet). Every writer in Strata builds
/// a file under a temporary name and renames it into place, so what is left by a crash is recognisable by name:
/// <list type="bullet">
/// <item><c>*.tmp</c> files (snapshot archives <c>upper.tar.tmp</c>, disk and initramfs builds, wasm artefacts,
/// disk imports, index and state files written atomically);</item>
/// <item><c>.tmp-*</c> directories (layers being unpacked) and everything in <c>images/blobs/.tmp</c> (blobs being
/// downloaded or imported), and <c>images/.import-*</c> (uploaded archives being imported);</item>
/// <item>snapshot directories without their <c>NAME.json</c> (a snapshot exists only once that is written).</item>
/// </list>
/// Never entered: image content (<c>images/layers/ID</c>), the runtime's state (<c>run</c>) and an instance's own
/// files (its root file system, and the files its supervisor, which outlives the daemon, writes), except the
/// instance's <c>snapshots</c>.
/// </summary>
internal static class StartupSweep
{
    public sealed record Removed(string Path, long Bytes);

    public static IReadOnlyList<Removed> Run(string root)
    {
        var removed = new List<Removed>();
        foreach (var entry in Entries(root))
        {
            switch (Path.GetFileName(entry))
            {
                case "instances":
                    foreach (var instance in Entries(entry))
                    {
                        SweepSnapshots(Path.Combine(instance, "snapshots"), removed);
                    }
                    break;
                case "run":
                    break;
                case "images":
                    SweepImages(entry, removed);
                    break;
                default:
                    SweepTree(entry, removed);
                    break;
            }
        }
        return removed;
    }

    private static void SweepImages(string images, List<Removed> removed)
    {
        foreach (var entry in Entries(images))
        {
            switch (Path.GetFileName(entry))
            {
                case "layers":
                    // Only the layer store's own entries: inside a layer is image content, whatever its names.
                    foreach (var layer in Entries(entry).Where(IsTemporary))
                    {
                        Remove(layer, removed);
                    }
                    break;
                case "blobs":
                    foreach (var partial in Entries(Path.Combine(entry, ".tmp")))
                    {
                        Remove(partial, removed);
                    }
                    break;
                default:
                    if (Path.GetFileName(entry).StartsWith(Api.ImageEndpoints.SpoolPrefix, StringComparison.Ordinal))
                    {
                        Remove(entry, removed); // an uploaded archive whose import never finished
                    }
                    else
                    {
                        SweepTree(entry, removed);
                    }
                    break;
            }
        }
    }

    private static void SweepSnapshots(string snapshots, List<Removed> removed)
    {
        foreach (var entry in Entries(snapshots))
        {
            if (Directory.Exists(entry) && !File.Exists(entry + ".json"))
            {
                Remove(entry, removed); // an attempt that never finished (its archive is often NAME/upper.tar.tmp)
            }
            else
            {
                SweepTree(entry, removed);
            }
        }
    }

    private static void SweepTree(string path, List<Removed> removed)
    {
        if (IsTemporary(path))
        {
            Remove(path, removed);
            return;
        }
        if (new DirectoryInfo(path) is { Exists: true, LinkTarget: null })
        {
            foreach (var entry in Entries(path))
            {
                SweepTree(entry, removed);
            }
        }
    }

    private static bool IsTemporary(string path)
    {
        var name = Path.GetFileName(path);
        return name.StartsWith(".tmp-", StringComparison.Ordinal)
            || (name.EndsWith(".tmp", StringComparison.Ordinal) && File.Exists(path));
    }

    private static void Remove(string path, List<Removed> removed)
    {
        try
        {
            var info = new DirectoryInfo(path);
            if (info.Exists && info.LinkTarget is null)
            {
                var bytes = SizeOf(info);
                info.Delete(recursive: true);
                removed.Add(new Removed(path, bytes));
            }
            else
            {
                var file = new FileInfo(path);
                var bytes = file.Exists && file.LinkTarget is null ? file.Length : 0;
                file.Delete();
                removed.Add(new Removed(path, bytes));
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Left for the next start; the daemon works without it.
        }
    }

    private static long SizeOf(DirectoryInfo directory)
    {
        try
        {
            return directory.EnumerateFiles("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
                .Sum(f => f.LinkTarget is null ? f.Length : 0);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return 0;
        }
    }

    private static List<string> Entries(string directory)
    {
        try
        {
            return Directory.Exists(directory) ? [.. Directory.EnumerateFileSystemEntries(directory)] : [];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }
}
