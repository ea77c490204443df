using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using Strata.Contracts;
using Strata.Images.Blobs;

namespace Strata.Images.Layers;

/// <summary>The outcome of unpacking one layer.</summary>
public sealed record LayerUnpackResult(Digest DiffId, long UncompressedSize, int Entries);

/// <summary>
/// Unpacks one layer tarball (plain, gzip or zstd) into an empty directory, never writing outside it.
/// <list type="bullet">
/// <item>names are split into components; <c>..</c> anywhere refuses the layer; a leading <c>/</c> is stripped
/// (absolute names are contained inside the root, as tar does);</item>
/// <item>every parent directory is walked component by component with lstat; a symlink (or a non-directory) on the
/// way refuses the layer, so nothing is ever written through a symlink, whether it came from this archive or
/// replaced a directory earlier in it;</item>
/// <item>symlinks are created with their target stored verbatim and are never followed while unpacking;</item>
/// <item>hard-link targets are resolved the same way and must be an existing non-directory inside the layer;</item>
/// <item>files are created with O_CREAT|O_EXCL after any old entry at that name was removed, so a final-component
/// symlink is never opened.</item>
/// </list>
/// Whiteouts become what overlayfs expects: <c>.wh.NAME</c> → a 0/0 character device NAME; <c>.wh..wh..opq</c> →
/// the xattr <c>trusted.overlay.opaque=y</c> on the directory. The uncompressed stream is hashed so the caller can
/// check it against the config's diff_id.
/// </summary>
public static class LayerUnpacker
{
    private const string WhiteoutPrefix = ".wh.";
    private const string OpaqueMarker = ".wh..wh..opq";
    public const string OpaqueXattr = OverlayForm.OpaqueXattr;

    /// <param name="limits">Bounds on the uncompressed size (a decompression bomb stops with a clear error); null: none.</param>
    public static LayerUnpackResult Unpack(Stream layer, string target, string layerName, CancellationToken ct = default, UnpackLimits? limits = null)
    {
        if (!Directory.Exists(target))
        {
            throw new DirectoryNotFoundException(target);
        }
        using var decompressed = limits is null ? Decompress(layer, layerName)
            : new BoundedDecompressionStream(Decompress(layer, layerName), layer, limits, $"layer {layerName}", target);
        using var hashing = new HashingReadStream(decompressed);
        var context = new UnpackContext(Path.GetFullPath(target), layerName);
        var entries = 0;
        using (var reader = new TarReader(hashing, leaveOpen: true))
        {
            TarEntry? entry;
            while ((entry = ReadNext(reader, layerName)) is not null)
            {
                ct.ThrowIfCancellationRequested();
                context.Apply(entry, ct);
                entries++;
            }
        }
        // The tar end-of-archive blocks and any padding belong to the diff_id too.
        hashing.CopyTo(Stream.Null);
        context.Finish();
        return new LayerUnpackResult(hashing.Digest(), hashing.Length, entries);
    }

    private static TarEntry? ReadNext(TarReader reader, string layerName)
    {
        try
        {
            return reader.GetNextEntry(copyData: false);
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or EndOfStreamException or ZstdSharp.ZstdException)
        {
            throw new StrataException(ErrorKind.InvalidArgument, $"layer {layerName} is not a valid tar archive: {e.Message}", inner: e);
        }
    }

    private static Stream Decompress(Stream layer, string layerName)
    {
        Span<byte> magic = stackalloc byte[4];
        var start = layer.Position;
        var n = layer.ReadAtLeast(magic, 4, throwOnEndOfStream: false);
        layer.Position = start;
        if (n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b)
        {
            return new GZipStream(layer, CompressionMode.Decompress, leaveOpen: true);
        }
        if (n == 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd)
        {
            return new ZstdSharp.DecompressionStream(layer, leaveOpen: true);
        }
        _ = layerName;
        return new NonClosingReadStream(layer);
    }

    private sealed class UnpackContext(string root, string layerName)
    {
        private readonly Dictionary<string, TarEntry> _directories = new(StringComparer.Ordinal);

        public void Apply(TarEntry entry, CancellationToken ct)
        {
            var name = entry.Name;
            var parts = SplitName(name, "name");
            if (parts.Length == 0)
            {
                if (entry.EntryType == TarEntryType.Directory)
                {
                    _directories[root] = entry;
                }
                return;
            }
            var baseName = parts[^1];
            var parent = EnsureDirectories(parts.AsSpan(0, parts.Length - 1), name);

            if (baseName.StartsWith(WhiteoutPrefix, StringComparison.Ordinal))
            {
                if (baseName == OpaqueMarker)
                {
                    Native.SetXattr(parent, OpaqueXattr, "y"u8.ToArray());
                    return;
                }
                var hidden = baseName[WhiteoutPrefix.Length..];
                if (hidden.Length == 0 || hidden is "." or "..")
                {
                    throw Refused(name, "is a malformed whiteout");
                }
                var whiteout = Path.Combine(parent, hidden);
                RemoveExisting(whiteout);
                Native.Mknod(whiteout, Native.SIfChr, 0, 0);
                return;
            }

            var path = Path.Combine(parent, baseName);
            switch (entry.EntryType)
            {
                case TarEntryType.Directory:
                    if (KindOf(path) != EntryKind.Directory)
                    {
                        RemoveExisting(path);
                        Directory.CreateDirectory(path);
                    }
                    _directories[path] = entry;
                    return;

                case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                    RemoveExisting(path);
                    using (var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
                    {
                        if (entry.DataStream is { } data)
                        {
                            CopyWithCancellation(data, file, ct);
                        }
                    }
                    SetMetadata(path, entry, chmod: true);
                    return;

                case TarEntryType.SymbolicLink:
                    if (string.IsNullOrEmpty(entry.LinkName) || entry.LinkName.Contains('\0', StringComparison.Ordinal))
                    {
                        throw Refused(name, "is a symlink without a valid target");
                    }
                    RemoveExisting(path);
                    // Stored verbatim (absolute or relative): it is resolved only later, inside the container's root.
                    File.CreateSymbolicLink(path, entry.LinkName);
                    SetMetadata(path, entry, chmod: false);
                    return;

                case TarEntryType.HardLink:
                {
                    var targetParts = SplitName(entry.LinkName, "hard-link target");
                    if (targetParts.Length == 0)
                    {
                        throw Refused(name, "is a hard link to the layer root");
                    }
                    var targetParent = WalkExisting(targetParts.AsSpan(0, targetParts.Length - 1), name);
                    var targetPath = Path.Combine(targetParent, targetParts[^1]);
                    var kind = KindOf(targetPath);
                    if (kind == EntryKind.Missing)
                    {
                        throw Refused(name, $"is a hard link to '{entry.LinkName}', which is not (yet) in this layer");
                    }
                    if (kind == EntryKind.Directory)
                    {
                        throw Refused(name, $"is a hard link to the directory '{entry.LinkName}'");
                    }
                    if (targetPath == path)
                    {
                        return;
                    }
                    RemoveExisting(path);
                    Native.Link(targetPath, path);
                    return;
                }

                case TarEntryType.CharacterDevice or TarEntryType.BlockDevice or TarEntryType.Fifo:
                {
                    RemoveExisting(path);
                    var type = entry.EntryType switch
                    {
                        TarEntryType.CharacterDevice => Native.SIfChr,
                        TarEntryType.BlockDevice => Native.SIfBlk,
                        _ => Native.SIfIfo,
                    };
                    var (major, minor) = entry is PosixTarEntry posix ? ((uint)posix.DeviceMajor, (uint)posix.DeviceMinor) : (0u, 0u);
                    Native.Mknod(path, type | ((uint)entry.Mode & 0xfff), major, minor);
                    SetMetadata(path, entry, chmod: true);
                    return;
                }

                default:
                    throw new StrataException(ErrorKind.InvalidArgument,
                        $"layer {layerName}: entry '{name}' has the unsupported tar type {entry.EntryType}; the layer was refused");
            }
        }

        /// <summary>Directory metadata last: writing children would otherwise change the mtimes again.</summary>
        public void Finish()
        {
            foreach (var (path, entry) in _directories)
            {
                SetMetadata(path, entry, chmod: true);
            }
            if (!_directories.ContainsKey(root))
            {
                File.SetUnixFileMode(root, (UnixFileMode)0b111_101_101);
            }
        }

        private string EnsureDirectories(ReadOnlySpan<string> parts, string entryName)
        {
            var current = root;
            for (var i = 0; i < parts.Length; i++)
            {
                var next = Path.Combine(current, parts[i]);
                switch (KindOf(next))
                {
                    case EntryKind.Missing:
                        Directory.CreateDirectory(next);
                        File.SetUnixFileMode(next, (UnixFileMode)0b111_101_101);
                        break;
                    case EntryKind.Symlink:
                        throw Refused(entryName, $"would be written through the symbolic link '{string.Join('/', parts[..(i + 1)].ToArray())}'");
                    case EntryKind.Other:
                        throw Refused(entryName, $"has a parent '{string.Join('/', parts[..(i + 1)].ToArray())}' that is not a directory");
                }
                current = next;
            }
            return current;
        }

        /// <summary>Like <see cref="EnsureDirectories"/> but creates nothing (for hard-link targets).</summary>
        private string WalkExisting(ReadOnlySpan<string> parts, string entryName)
        {
            var current = root;
            for (var i = 0; i < parts.Length; i++)
            {
                var next = Path.Combine(current, parts[i]);
                if (KindOf(next) != EntryKind.Directory)
                {
                    throw Refused(entryName, $"is a hard link whose target path goes through '{string.Join('/', parts[..(i + 1)].ToArray())}', which is not a directory of this layer");
                }
                current = next;
            }
            return current;
        }

        private string[] SplitName(string name, string what)
        {
            if (name.Contains('\0', StringComparison.Ordinal))
            {
                throw Refused(name, $"has a NUL byte in its {what}");
            }
            var parts = name.Split('/', StringSplitOptions.RemoveEmptyEntries).Where(p => p != ".").ToArray();
            if (parts.Contains(".."))
            {
                throw Refused(name, $"has '..' in its {what} (path traversal)");
            }
            return parts;
        }

        private StrataException Refused(string entryName, string why) =>
            new(ErrorKind.InvalidArgument, $"layer {layerName}: entry '{entryName}' {why}; the layer was refused and nothing was kept");

        private static void SetMetadata(string path, TarEntry entry, bool chmod)
        {
            Native.Lchown(path, entry.Uid, entry.Gid);
            // chmod after chown: chown clears the setuid/setgid bits.
            if (chmod)
            {
                File.SetUnixFileMode(path, entry.Mode);
            }
            if (entry is PaxTarEntry pax)
            {
                foreach (var (key, value) in pax.ExtendedAttributes)
                {
                    // Only user.* xattrs: trusted.* would let a layer forge overlayfs metadata (opaque, redirect),
                    // and binary security.* values do not survive the string form .NET gives PAX records.
                    if (key.StartsWith("SCHILY.xattr.user.", StringComparison.Ordinal) && entry.EntryType != TarEntryType.SymbolicLink)
                    {
                        Native.SetXattr(path, key["SCHILY.xattr.".Length..], Encoding.UTF8.GetBytes(value));
                    }
                }
            }
            Native.SetTimes(path, entry.ModificationTime);
        }
    }

    private static void CopyWithCancellation(Stream from, Stream to, CancellationToken ct)
    {
        var buffer = new byte[1 << 16];
        int n;
        while ((n = from.Read(buffer)) > 0)
        {
            ct.ThrowIfCancellationRequested();
            to.Write(buffer, 0, n);
        }
    }

    internal enum EntryKind { Missing, Directory, Symlink, Other }

    /// <summary>lstat-based: a symlink is reported as a symlink, never as what it points to.</summary>
    internal static EntryKind KindOf(string path)
    {
        var attributes = new FileInfo(path).Attributes;
        if ((int)attributes == -1)
        {
            return EntryKind.Missing;
        }
        if (attributes.HasFlag(FileAttributes.ReparsePoint))
        {
            return EntryKind.Symlink;
        }
        return attributes.HasFlag(FileAttributes.Directory) ? EntryKind.Directory : EntryKind.Other;
    }

    private static void RemoveExisting(string path)
    {
        switch (KindOf(path))
        {
            case EntryKind.Directory:
                Directory.Delete(path, recursive: true);
                break;
            case EntryKind.Symlink or EntryKind.Other:
                File.Delete(path);
                break;
        }
    }

    /// <summary>A read-only pass-through that hashes everything read (the layer's diff_id).</summary>
    private sealed class HashingReadStream(Stream inner) : ReadOnlyStream
    {
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        private long _length;

        public override long Length => _length;
        public override long Position { get => _length; set => throw new NotSupportedException(); }

        public Digest Digest() => Images.Digest.FromHash(_hash.GetHashAndReset());

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var n = inner.Read(buffer);
            _hash.AppendData(buffer[..n]);
            _length += n;
            return n;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _hash.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
