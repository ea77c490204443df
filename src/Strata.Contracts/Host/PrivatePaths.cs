namespace Strata.Contracts.Host;

/// <summary>
/// What the daemon makes under its data root is private to it (docs/security.md): directories <c>0700</c>, files
/// <c>0600</c>, set when they are created — whatever the process umask — so a directory or file made while the
/// daemon runs is never readable by the <c>strata</c> group or other users until the next start repairs it.
/// </summary>
public static class PrivatePaths
{
    public const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    public const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Creates <paramref name="path"/> and any missing parent as <c>0700</c>; existing directories keep their mode.</summary>
    public static DirectoryInfo CreateDirectory(string path)
    {
        // Directory.CreateDirectory(path, mode) gives the mode to the last directory only: parents are made one by one.
        var full = Path.GetFullPath(path);
        var missing = new Stack<string>();
        for (var dir = full; !string.IsNullOrEmpty(dir) && !Directory.Exists(dir); dir = Path.GetDirectoryName(dir))
        {
            missing.Push(dir);
        }
        while (missing.Count > 0)
        {
            Directory.CreateDirectory(missing.Pop(), DirectoryMode);
        }
        return new DirectoryInfo(full);
    }

    /// <summary>Options that create (or replace) a file as <c>0600</c>, for writing.</summary>
    public static FileStreamOptions NewFile(FileMode mode = System.IO.FileMode.Create) => new()
    {
        Mode = mode,
        Access = FileAccess.Write,
        UnixCreateMode = FileMode,
    };

    /// <summary>Writes <paramref name="text"/> to a new <c>0600</c> file (replacing one that exists; a replaced file keeps its mode).</summary>
    public static async Task WriteAllTextAsync(string path, string text, CancellationToken cancellationToken = default)
    {
        await using var stream = new FileStream(path, NewFile());
        await using var writer = new StreamWriter(stream);
        await writer.WriteAsync(text.AsMemory(), cancellationToken).ConfigureAwait(false);
    }
}
