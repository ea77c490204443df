using System.Globalization;
using Strata.Contracts;

namespace Strata.Node.Workloads;

/// <summary>
/// Users and home directories as an image defines them: its /etc/passwd and /etc/group, read from the image's layer
/// directories (the topmost layer that has the file wins). Numbers are taken as they are, as Docker does.
/// </summary>
public static class ImageUsers
{
    /// <summary>
    /// <c>uid[:gid]</c> as numbers, or names looked up in the image's /etc/passwd and /etc/group (top layer first).
    /// A uid without a gid takes the user's primary group, or 0. Empty: root.
    /// </summary>
    public static (long Uid, long Gid) Resolve(string? user, IReadOnlyList<string> layersLowestFirst, string field = "security.user")
    {
        if (string.IsNullOrEmpty(user))
        {
            return (0, 0);
        }
        var parts = user.Split(':');
        if (parts.Length > 2 || parts[0].Length == 0)
        {
            throw StrataException.Invalid(field, $"'{user}' is not USER[:GROUP]");
        }
        var passwd = ReadImageFile(layersLowestFirst, "etc/passwd");
        long uid;
        long? primaryGid;
        if (long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out uid))
        {
            primaryGid = Lookup(passwd, 2, parts[0], 3);
        }
        else
        {
            uid = Lookup(passwd, 0, parts[0], 2)
                ?? throw StrataException.Invalid(field, $"user '{parts[0]}' is not in the image's /etc/passwd; give a numeric uid");
            primaryGid = Lookup(passwd, 0, parts[0], 3);
        }
        var gid = primaryGid ?? 0;
        if (parts.Length == 2 && parts[1].Length > 0)
        {
            if (!long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out gid))
            {
                gid = Lookup(ReadImageFile(layersLowestFirst, "etc/group"), 0, parts[1], 2)
                    ?? throw StrataException.Invalid(field, $"group '{parts[1]}' is not in the image's /etc/group; give a numeric gid");
            }
        }
        return (uid, gid);
    }

    /// <summary>The home directory of <paramref name="uid"/> in the image's /etc/passwd; else <c>/</c> (Docker's and runc's rule).</summary>
    public static string HomeOf(long uid, IReadOnlyList<string> layersLowestFirst)
    {
        var key = uid.ToString(CultureInfo.InvariantCulture);
        foreach (var line in ReadImageFile(layersLowestFirst, "etc/passwd"))
        {
            var cols = line.Split(':');
            if (cols.Length >= 6 && cols[2] == key && cols[5].StartsWith('/'))
            {
                return cols[5];
            }
        }
        return "/";
    }

    private static long? Lookup(string[] lines, int keyColumn, string key, int valueColumn)
    {
        foreach (var line in lines)
        {
            var cols = line.Split(':');
            if (cols.Length > Math.Max(keyColumn, valueColumn) && cols[keyColumn] == key
                && long.TryParse(cols[valueColumn], NumberStyles.None, CultureInfo.InvariantCulture, out var v))
            {
                return v;
            }
        }
        return null;
    }

    /// <summary>A file of the image (relative path), from the topmost layer that has it as a plain file; none: no lines.</summary>
    internal static string[] ReadImageFile(IReadOnlyList<string> layersLowestFirst, string relative)
    {
        for (var i = layersLowestFirst.Count - 1; i >= 0; i--)
        {
            var path = Path.Combine(layersLowestFirst[i], relative);
            // A symlink could point anywhere on the host: only plain files are read.
            var info = new FileInfo(path);
            if (info.Exists && info.LinkTarget is null)
            {
                return File.ReadAllLines(path);
            }
        }
        return [];
    }
}
