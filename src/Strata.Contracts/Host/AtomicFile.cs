namespace Strata.Contracts.Host;

/// <summary>
/// Replaces a file whole: the new content is written beside it (<c>PATH.tmp</c>) and renamed over it, so a reader
/// (a start, a restarted daemon) finds the old file or the new one, never half of one. Not a durability promise: the
/// rename is not synced to disk.
/// </summary>
public static class AtomicFile
{
    public static void WriteAllText(string path, string text)
    {
        var temporary = path + ".tmp";
        File.WriteAllText(temporary, text);
        File.Move(temporary, path, overwrite: true);
    }

    public static void WriteAllBytes(string path, byte[] bytes)
    {
        var temporary = path + ".tmp";
        File.WriteAllBytes(temporary, bytes);
        File.Move(temporary, path, overwrite: true);
    }
}
