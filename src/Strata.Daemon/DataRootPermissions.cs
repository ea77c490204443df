using System.Globalization;
using System.Runtime.InteropServices;

namespace Strata.Daemon;

/// <summary>
/// The file-permission model of the data root (docs/security.md): nothing under it is reachable by other users.
/// The root is <c>0710 root:strata</c> (<c>0700</c> when there is no <c>strata</c> group): the group may pass
/// through it but finds nothing it may open. Every directory the daemon owns below it (instances, each instance,
/// its logs and snapshots, images, layers, blobs, caches, runtime state, networks) is <c>0700</c>; the files that
/// hold secrets or workload output (state.db and its WAL/SHM, the admin token, each instance's config.json,
/// spec.json and supervisor.json, its logs) are <c>0600</c>. A guest's file system seen from the host (a container's
/// <c>rootfs</c>) lies below a <c>0700</c> directory, so a setuid program written inside it is no path to root.
/// <see cref="Enforce"/> runs at every start and repairs an install with older, looser modes; image content
/// (inside <c>layers/&lt;id&gt;</c>) and a workload's own files keep theirs.
/// </summary>
internal static partial class DataRootPermissions
{
    public const string GroupName = "strata";

    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode GroupOrOther = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>Directories below these top-level ones are the daemon's too (one more level is made private).</summary>
    private static readonly string[] Containers = ["images", "cache", "run"];

    /// <summary>The files of an instance directory that hold its environment (secrets) or describe how it runs.</summary>
    private static readonly string[] InstanceSecrets = ["config.json", "spec.json", "supervisor.json"];

    /// <summary>One change made: the path and its mode before and after.</summary>
    public sealed record Fix(string Path, string Before, string After);

    /// <summary>The mode the data root should have, and the group it should belong to (null: leave the group).</summary>
    public static (UnixFileMode Mode, int? Gid) RootMode()
    {
        var gid = UnixGroups.Find(GroupName);
        return gid is null ? (Private, null) : (Private | UnixFileMode.GroupExecute, gid);
    }

    /// <summary>
    /// Creates the data root of a new install as the model wants it (mode and group, whatever the umask), so its
    /// first start has nothing to repair; an existing root is left to <see cref="Enforce"/>.
    /// </summary>
    public static void CreateRoot(string root)
    {
        if (Directory.Exists(root))
        {
            return;
        }
        var (mode, gid) = RootMode();
        Directory.CreateDirectory(root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        if (gid is { } g && IsRoot)
        {
            _ = Chown(root, 0, g);
        }
        File.SetUnixFileMode(root, mode);
    }

    /// <summary>Makes the data root match the model; returns what had to change (empty on a healthy install).</summary>
    public static IReadOnlyList<Fix> Enforce(string root)
    {
        var fixes = new List<Fix>();
        var (rootMode, gid) = RootMode();
        SetExactly(root, rootMode, gid, fixes);
        foreach (var entry in SafeEntries(root))
        {
            if (IsRealDirectory(entry))
            {
                MakePrivate(entry, fixes);
                if (Containers.Contains(Path.GetFileName(entry)))
                {
                    foreach (var inner in SafeEntries(entry).Where(IsRealDirectory))
                    {
                        MakePrivate(inner, fixes);
                    }
                }
            }
            else if (IsRegularFile(entry))
            {
                MakePrivate(entry, fixes); // state.db, its -wal and -shm, admin.token, stratad.lock
            }
        }
        var instances = Path.Combine(root, "instances");
        foreach (var instance in SafeEntries(instances).Where(IsRealDirectory))
        {
            MakePrivate(instance, fixes);
            foreach (var name in InstanceSecrets)
            {
                MakePrivate(Path.Combine(instance, name), fixes);
            }
            foreach (var sub in new[] { "logs", "snapshots" })
            {
                var dir = Path.Combine(instance, sub);
                if (!IsRealDirectory(dir))
                {
                    continue;
                }
                MakePrivate(dir, fixes);
                if (sub == "logs")
                {
                    foreach (var log in SafeEntries(dir).Where(IsRegularFile))
                    {
                        MakePrivate(log, fixes);
                    }
                }
            }
        }
        return fixes;
    }

    /// <summary>Creates <paramref name="path"/> as an empty 0600 file unless it exists (SQLite gives its WAL and SHM the database's mode).</summary>
    public static void CreatePrivateFile(string path)
    {
        if (File.Exists(path))
        {
            return;
        }
        try
        {
            using var _ = new FileStream(path, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            });
        }
        catch (IOException) when (File.Exists(path))
        {
        }
    }

    private static void MakePrivate(string path, List<Fix> fixes)
    {
        UnixFileMode mode;
        try
        {
            if (!File.Exists(path) && !Directory.Exists(path))
            {
                return;
            }
            mode = File.GetUnixFileMode(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return;
        }
        if ((mode & GroupOrOther) == 0)
        {
            return;
        }
        var next = mode & ~GroupOrOther & ~(UnixFileMode.SetUser | UnixFileMode.SetGroup);
        File.SetUnixFileMode(path, next);
        fixes.Add(new Fix(path, Octal(mode), Octal(next)));
    }

    private static void SetExactly(string path, UnixFileMode mode, int? gid, List<Fix> fixes)
    {
        var before = File.GetUnixFileMode(path);
        var ownerBefore = Owner(path);
        var want = gid is { } g ? (0, g) : (0, ownerBefore.Gid);
        var changeOwner = IsRoot && ownerBefore != want;
        if (changeOwner)
        {
            _ = Chown(path, want.Item1, want.Item2);
        }
        if (before != mode)
        {
            File.SetUnixFileMode(path, mode);
        }
        if (before != mode || changeOwner)
        {
            fixes.Add(new Fix(path, $"{Octal(before)} {ownerBefore.Uid}:{ownerBefore.Gid}", $"{Octal(mode)} {want.Item1}:{want.Item2}"));
        }
    }

    private static string Octal(UnixFileMode mode) => "0" + Convert.ToString((int)mode, 8).PadLeft(3, '0');

    private static IEnumerable<string> SafeEntries(string directory)
    {
        try
        {
            return Directory.Exists(directory) ? Directory.EnumerateFileSystemEntries(directory).ToList() : [];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    /// <summary>A directory that is not a symlink (a link is never followed: its target is someone else's).</summary>
    private static bool IsRealDirectory(string path)
    {
        var info = new DirectoryInfo(path);
        return info.Exists && info.LinkTarget is null;
    }

    private static bool IsRegularFile(string path)
    {
        var info = new FileInfo(path);
        return info.Exists && info.LinkTarget is null;
    }

    private static bool IsRoot => geteuid() == 0;

    /// <summary>Owner and group by statx (its layout is the same on every architecture; lstat semantics).</summary>
    private static unsafe (int Uid, int Gid) Owner(string path)
    {
        const int AtFdCwd = -100;
        const int AtSymlinkNoFollow = 0x100;
        const uint StatxBasicStats = 0x7ff;
        var buffer = stackalloc byte[256];
        if (statx(AtFdCwd, path, AtSymlinkNoFollow, StatxBasicStats, buffer) != 0)
        {
            return (-1, -1);
        }
        return (*(int*)(buffer + 20), *(int*)(buffer + 24)); // stx_uid, stx_gid
    }

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static unsafe partial int statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", EntryPoint = "chown", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Chown(string path, int owner, int group);

    [LibraryImport("libc")]
    private static partial uint geteuid();

    internal static string Describe(IReadOnlyList<Fix> fixes) =>
        string.Join("; ", fixes.Select(f => string.Create(CultureInfo.InvariantCulture, $"{f.Path} {f.Before} -> {f.After}")));
}
