using System.Security.Cryptography;
using System.Text;
using Strata.Contracts;

namespace Strata.Node.Drivers.Container;

/// <summary>
/// A directory tree as one archive, keeping what a container's files need: GNU tar with xattrs (overlayfs
/// whiteouts and opaque directories), numeric owners, modes with their special bits, links and sparse files.
/// A container's writable layer (snapshots, cold moves) and a managed volume carried by a cold move use it.
/// </summary>
public static class FileTreeArchive
{
    /// <summary>Writes <paramref name="directory"/>'s contents to <paramref name="archive"/> (a failed pack leaves no file).</summary>
    public static async Task PackAsync(string directory, string archive, string what)
    {
        var tmp = archive + ".tmp";
        try
        {
            var tar = await OciRuntime.Exec("tar", ["--create", "--file", tmp, "--xattrs", "--xattrs-include=*", "--numeric-owner", "--sparse", "-C", directory, "."],
                CancellationToken.None, TimeSpan.FromMinutes(30)).ConfigureAwait(false);
            if (tar.ExitCode != 0)
            {
                throw new StrataException(ErrorKind.Internal, $"{what} failed: tar: {tar.Error}");
            }
            File.Move(tmp, archive);
        }
        finally
        {
            File.Delete(tmp);
        }
    }

    /// <summary>Extracts <paramref name="archive"/> into <paramref name="directory"/> (exists) with owners, modes and xattrs as packed.</summary>
    public static async Task UnpackAsync(string archive, string directory, string what)
    {
        var tar = await OciRuntime.Exec("tar", ["--extract", "--file", archive, "--xattrs", "--xattrs-include=*", "--numeric-owner", "--same-permissions", "-C", directory],
            CancellationToken.None, TimeSpan.FromMinutes(30)).ConfigureAwait(false);
        if (tar.ExitCode != 0)
        {
            throw new StrataException(ErrorKind.Internal, $"{what} failed: tar: {tar.Error}");
        }
    }

    /// <summary>
    /// A digest of a tree's contents: every entry's relative path, kind, mode, link target and (for files) bytes,
    /// in name order. Two trees with the same digest hold the same files (times are not compared).
    /// </summary>
    public static string Digest(string directory)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Append(hash, directory, new DirectoryInfo(directory));
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    // Depth first in name order; a symbolic link is hashed as its target's text, never followed.
    private static void Append(IncrementalHash hash, string root, DirectoryInfo directory)
    {
        foreach (var info in directory.EnumerateFileSystemInfos("*", new EnumerationOptions { AttributesToSkip = 0 }).OrderBy(e => e.Name, StringComparer.Ordinal))
        {
            var kind = info.LinkTarget is not null ? "l" : info is DirectoryInfo ? "d" : "f";
            hash.AppendData(Encoding.UTF8.GetBytes($"{Path.GetRelativePath(root, info.FullName)}\0{kind}\0{(int)info.UnixFileMode}\0{info.LinkTarget}\0"));
            if (kind == "f")
            {
                using var stream = File.OpenRead(info.FullName);
                hash.AppendData(SHA256.HashData(stream));
            }
            else if (kind == "d")
            {
                Append(hash, root, (DirectoryInfo)info);
            }
        }
    }
}
