using Strata.Contracts.Host;
using Strata.Images.Layers;

namespace Strata.Node.Guest;

/// <summary>
/// Merges an image's unpacked layers (lowest first) into one directory tree as the container tier's overlay mount
/// shows them, with the image store's rules (<see cref="OverlayForm"/>): a whiteout (character device 0/0) removes
/// its path and is not copied; an opaque directory hides what lower layers had in it; any other device node is
/// copied as it is; an entry of another kind (a file over a directory, a directory over a link) replaces the lower
/// one. <c>cp -a</c> keeps owners, modes, links, devices and hard links. Nothing lower is ever written through: an
/// entry a layer brings replaces what the merged tree had there, so a lower symbolic link cannot lead a copy out of
/// the tree.
/// </summary>
public static class LayerMerge
{
    private static readonly EnumerationOptions s_all = new() { RecurseSubdirectories = true, AttributesToSkip = 0 };

    public static async Task MergeAsync(IReadOnlyList<string> layerDirs, string target, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(target);
        foreach (var layer in layerDirs)
        {
            var whiteouts = new List<string>();
            // Parents come before their children, so a replaced parent is gone before its children are looked at.
            foreach (var path in Directory.EnumerateFileSystemEntries(layer, "*", s_all))
            {
                var dest = Path.Combine(target, Path.GetRelativePath(layer, path));
                if (OverlayForm.IsWhiteout(path))
                {
                    Remove(dest);
                    whiteouts.Add(dest);
                }
                else if (!IsRealDirectory(path))
                {
                    Remove(dest);
                }
                else if (!IsRealDirectory(dest))
                {
                    Remove(dest); // a directory over a file or a link: the link is not followed
                }
                else if (OverlayForm.IsOpaque(path))
                {
                    foreach (var child in Directory.EnumerateFileSystemEntries(dest))
                    {
                        Remove(child);
                    }
                }
            }
            (await HostTool.RunAsync("cp", ["-a", "--reflink=auto", "--", layer + "/.", target + "/"],
                new HostToolOptions { MissingHint = "install it with 'apt-get install coreutils'" }, cancellationToken).ConfigureAwait(false)).EnsureSuccess();
            foreach (var path in whiteouts)
            {
                File.Delete(path); // copied with the layer; only the removal it stands for stays
            }
        }
    }

    /// <summary>Whether a layer has anything for the merge to apply (a whiteout or an opaque directory).</summary>
    public static bool HasOverlayMarks(string layer) =>
        Directory.EnumerateFileSystemEntries(layer, "*", s_all).Any(p => OverlayForm.IsWhiteout(p) || (IsRealDirectory(p) && OverlayForm.IsOpaque(p)));

    private static bool IsRealDirectory(string path) => Directory.Exists(path) && new DirectoryInfo(path).LinkTarget is null;

    private static void Remove(string path)
    {
        if (IsRealDirectory(path))
        {
            Directory.Delete(path, recursive: true);
        }
        else if (File.Exists(path) || new FileInfo(path).LinkTarget is not null)
        {
            File.Delete(path);
        }
    }
}
