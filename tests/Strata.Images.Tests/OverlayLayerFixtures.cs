namespace Strata.Images.Tests;

/// <summary>
/// Two image layers that exercise every deletion rule of the OCI layer format, shared by the container tier's
/// unpacker tests (what the layers become on disk) and the guest tiers' disk builder tests (what the merged root
/// holds): a whiteout file (<c>.wh.NAME</c>), an opaque directory (<c>.wh..wh..opq</c>), a real character device that
/// is not a whiteout (<c>/dev/null</c>, 1/3), a file replacing a directory, a directory replacing a symbolic link and
/// a file replacing a symbolic link (both links lead out of the tree, to <c>../canary</c> and
/// <c>../canary-dir</c>, and neither may be followed).
/// </summary>
public static class OverlayLayerFixtures
{
    public static byte[] Lower() => new TarBuilder()
        .Dir("etc/")
        .File("etc/gone", "lower")
        .File("etc/kept", "lower")
        .Dir("opaque/")
        .File("opaque/old", "lower")
        .Dir("opaque/sub/")
        .File("opaque/sub/deep", "lower")
        .Dir("was-dir/")
        .File("was-dir/inside", "lower")
        .Symlink("was-link", "../canary-dir")
        .Symlink("link-file", "../canary")
        .Dir("dev/")
        .Build();

    public static byte[] Upper() => new TarBuilder()
        .Dir("etc/")
        .File("etc/.wh.gone", "")
        .File("etc/kept", "upper")
        .Dir("opaque/")
        .File("opaque/.wh..wh..opq", "")
        .File("opaque/new", "upper")
        .File("was-dir", "upper")
        .Dir("was-link/")
        .File("was-link/inside", "upper")
        .File("link-file", "upper")
        .Dir("dev/")
        .CharDevice("dev/null", 1, 3)
        .Build();

    /// <summary>
    /// The merged root as the overlay mount shows it: every entry (relative path, sorted) with its kind and, for
    /// files, content (<c>f:TEXT</c>), for directories <c>d</c>, for links <c>l:TARGET</c>, for devices <c>c:MAJOR,MINOR</c>.
    /// </summary>
    public static readonly IReadOnlyList<string> Merged =
    [
        "dev d",
        "dev/null c:1,3",
        "etc d",
        "etc/kept f:upper",
        "link-file f:upper",
        "opaque d",
        "opaque/new f:upper",
        "was-dir f:upper",
        "was-link d",
        "was-link/inside f:upper",
    ];

    /// <summary>Lists a directory tree in the form of <see cref="Merged"/> (devices through <c>stat</c>).</summary>
    public static IReadOnlyList<string> Describe(string root) =>
        [.. Directory.EnumerateFileSystemEntries(root, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
            .Select(p => Path.GetRelativePath(root, p) + " " + Kind(p))
            .Order(StringComparer.Ordinal)];

    private static string Kind(string path)
    {
        var info = new FileInfo(path);
        if (info.LinkTarget is { } target)
        {
            return "l:" + target;
        }
        if (Directory.Exists(path))
        {
            return "d";
        }
        var stat = Tools.Run("stat", "-c", "%F %t,%T", path).Output.Trim();
        return stat.StartsWith("character special file ", StringComparison.Ordinal)
            ? "c:" + string.Join(',', stat["character special file ".Length..].Split(',').Select(h => Convert.ToInt32(h, 16)))
            : "f:" + File.ReadAllText(path);
    }
}
