using System.Formats.Tar;
using System.IO.Compression;
using System.Text.Json;
using Strata.Contracts;
using Strata.Contracts.Host;
using Strata.Images.Blobs;
using Strata.Images.Layers;
using Strata.Images.Oci;

namespace Strata.Images;

public sealed partial class ImageStore
{
    /// <summary>The fixed mtime of every entry of a built base image, so its bytes (and digests) are reproducible.</summary>
    public static readonly DateTimeOffset BaseImageTime = new(2000, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private const string DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    /// <summary>
    /// Imports a <c>docker save</c> tarball (manifest.json) or an OCI image-layout tarball (index.json), plain or
    /// gzipped. <paramref name="name"/> names the image when the archive has no name, or overrides it (then the
    /// archive must hold a single image). Every blob is verified; a layout blob whose bytes do not match its file
    /// name refuses the archive.
    /// </summary>
    public async Task<IReadOnlyList<ImageInfo>> ImportArchiveAsync(string path, string? name = null, CancellationToken ct = default)
    {
        var target = name is null ? null : ImageReference.Parse(name, "name");
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        var written = new List<Digest>();
        var kept = new HashSet<Digest>();
        var preexisting = Blobs.List().ToHashSet();
        try
        {
            var files = new Dictionary<string, Digest>(StringComparer.Ordinal);
            var links = new Dictionary<string, string>(StringComparer.Ordinal);
            await using (var file = OpenArchive(path))
            await using (var stream = BoundedUnpack(MaybeGunzip(file), file, $"archive {path}", Path.Combine(_root, "blobs")))
            {
                var reader = new TarReader(stream);
                TarEntry? entry;
                while ((entry = await NextEntryAsync(reader, path, ct).ConfigureAwait(false)) is not null)
                {
                    var entryName = NormalizeArchiveName(entry.Name);
                    if (entry.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile && entry.DataStream is { } data)
                    {
                                                var (digest, _) = await Blobs.WriteAsync(data, ct: ct).ConfigureAwait(false);
                        if (!preexisting.Contains(digest))
                        {
                            written.Add(digest);
                        }
                        files[entryName] = digest;
                        if (entryName.StartsWith("blobs/sha256/", StringComparison.Ordinal) && entryName["blobs/sha256/".Length..] != digest.Hex)
                        {
                            throw new StrataException(ErrorKind.InvalidArgument,
                                $"archive {path}: {entryName} holds content whose digest is {digest}; the archive is corrupted and was refused");
                        }
                    }
                    else if (entry.EntryType is TarEntryType.SymbolicLink or TarEntryType.HardLink)
                    {
                        var linkTarget = entry.EntryType == TarEntryType.HardLink
                            ? NormalizeArchiveName(entry.LinkName)
                            : NormalizeArchiveName(Path.Combine(Path.GetDirectoryName(entryName) ?? "", entry.LinkName));
                        links[entryName] = linkTarget;
                    }
                }
            }
            foreach (var (link, linkTarget) in links)
            {
                if (files.TryGetValue(linkTarget, out var d))
                {
                    files[link] = d;
                }
            }

            var results = new List<ImageInfo>();
            if (files.TryGetValue("manifest.json", out var dockerManifest))
            {
                var entries = JsonSerializer.Deserialize(Blobs.ReadAllBytes(dockerManifest), OciJsonContext.Default.ListDockerArchiveEntry) ?? [];
                if (target is not null && entries.Count != 1)
                {
                    throw StrataException.Invalid("name", $"archive {path} holds {entries.Count} images; import it without a name to keep theirs");
                }
                foreach (var item in entries)
                {
                    var config = Lookup(files, item.Config, path);
                    var layers = new List<Descriptor>();
                    foreach (var layerPath in item.Layers)
                    {
                        var blob = Lookup(files, layerPath, path);
                        layers.Add(new Descriptor { MediaType = LayerMediaType(blob), Digest = blob.ToString(), Size = Blobs.SizeOf(blob) });
                    }
                    var manifestDigest = await WriteManifestAsync(
                        new Descriptor { MediaType = MediaTypes.OciConfig, Digest = config.ToString(), Size = Blobs.SizeOf(config) }, layers, ct).ConfigureAwait(false);
                    var names = target is not null ? [target.ToString()]
                        : item.RepoTags?.Select(t => ImageReference.Parse(t, "RepoTags").ToString()).ToList() ?? [];
                    if (names.Count == 0)
                    {
                        throw StrataException.Invalid("name", $"archive {path} has an image without a name; pass a name to import it");
                    }
                    foreach (var n in names)
                    {
                        results.Add(await CommitAsync(n, manifestDigest, null, null, ct).ConfigureAwait(false));
                    }
                }
            }
            else if (files.TryGetValue("index.json", out var ociIndex))
            {
                if (!files.ContainsKey("oci-layout"))
                {
                    throw StrataException.Invalid("path", $"archive {path} has index.json but no oci-layout file; it is not an OCI image layout");
                }
                var index = JsonSerializer.Deserialize(Blobs.ReadAllBytes(ociIndex), OciJsonContext.Default.ImageIndex)!;
                if (target is not null && index.Manifests.Count != 1)
                {
                    throw StrataException.Invalid("name", $"archive {path} holds {index.Manifests.Count} images; import it without a name to keep theirs");
                }
                foreach (var descriptor in index.Manifests)
                {
                    var digest = Digest.Parse(descriptor.Digest, "index.json manifests.digest");
                    EnsurePresent(digest, path);
                    Digest? indexDigest = null;
                    var manifestDigest = digest;
                    if (MediaTypes.IsIndex(descriptor.MediaType))
                    {
                        var nested = JsonSerializer.Deserialize(Blobs.ReadAllBytes(digest), OciJsonContext.Default.ImageIndex)!;
                        var chosen = PlatformSelector.Select(nested, PlatformSelector.Host)
                            ?? throw new StrataException(ErrorKind.NotFound, $"archive {path} has no image for {PlatformSelector.Host}");
                        indexDigest = digest;
                        manifestDigest = Digest.Parse(chosen.Digest);
                        EnsurePresent(manifestDigest, path);
                    }
                    var imageName = target?.ToString() ?? NameFromAnnotations(descriptor.Annotations)
                        ?? throw StrataException.Invalid("name", $"archive {path} has an image without a name annotation; pass a name to import it");
                    results.Add(await CommitAsync(imageName, manifestDigest, indexDigest, null, ct).ConfigureAwait(false));
                }
            }
            else
            {
                throw StrataException.Invalid("path", $"{path} is neither a docker-save archive (manifest.json) nor an OCI image layout (oci-layout + index.json)");
            }
            return results;
        }
        catch (IOException e) when (DiskFull.Is(e))
        {
            throw DiskFull.Exception($"importing {path}", _root, e);
        }
        finally
        {
            // Files of the archive that no image uses (manifest.json, repositories, ... or everything, after a
            // failure) are not kept; blobs that were in the store before the import are never touched.
            foreach (var record in ReadIndex().Images)
            {
                kept.UnionWith(BlobsOf(record));
            }
            foreach (var d in written.Where(d => !kept.Contains(d)))
            {
                Blobs.Delete(d);
            }
            _gate.Release();
        }
    }

    /// <summary>
    /// Turns a plain root filesystem (a directory, or a tar/tar.gz of one) into a single-layer image with a default
    /// config (<c>Cmd ["sh"]</c>, a standard PATH).
    /// </summary>
    public async Task<ImageInfo> ImportRootfsAsync(string directoryOrTar, string name, CancellationToken ct = default)
    {
        var reference = ImageReference.Parse(name, "name");
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            // A rootfs that does not unpack leaves none of the blobs it added.
            await using var revert = new Revert();
            Digest blob, diffId;
            if (Directory.Exists(directoryOrTar))
            {
                var tmp = Path.Combine(_root, "blobs", ".tmp", Guid.NewGuid().ToString("N") + ".tar");
                try
                {
                    await using (var output = new FileStream(tmp, FileMode.CreateNew, FileAccess.ReadWrite))
                    {
                        await WriteDirectoryTarAsync(directoryOrTar, output, ct).ConfigureAwait(false);
                        output.Position = 0;
                        (blob, _) = await Blobs.WriteAsync(output, ct: ct, revert: revert).ConfigureAwait(false);
                    }
                }
                finally
                {
                    File.Delete(tmp);
                }
                diffId = blob;
            }
            else if (File.Exists(directoryOrTar))
            {
                await using (var input = OpenArchive(directoryOrTar))
                {
                    (blob, _) = await Blobs.WriteAsync(input, ct: ct, revert: revert).ConfigureAwait(false);
                }
                await using var stored = Blobs.OpenRead(blob);
                await using var plain = MaybeGunzip(stored);
                diffId = await Digest.ComputeAsync(plain, ct).ConfigureAwait(false);
            }
            else
            {
                throw StrataException.NotFound($"{directoryOrTar} is neither a directory nor a tar file");
            }
            var config = DefaultConfig([diffId.ToString()]);
            var image = await CreateImageAsync(reference.ToString(), config, [blob], revert, ct).ConfigureAwait(false);
            revert.Success();
            return image;
        }
        catch (IOException e) when (DiskFull.Is(e))
        {
            throw DiskFull.Exception($"importing {directoryOrTar}", _root, e);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Builds a tiny base image from a static busybox (Debian's busybox-static): /bin/busybox, a symlink in /bin for
    /// every applet of <c>busybox --list</c>, /etc/passwd, /etc/group, /tmp, /proc, /sys, /dev, /root. No network;
    /// every byte is fixed by the busybox binary, so two builds give the same digests.
    /// </summary>
    public Task<ImageInfo> BuildBusyboxBaseAsync(string name = "busybox:latest", string busyboxPath = "/bin/busybox", CancellationToken ct = default) =>
        BuildBusyboxBaseAsync(name, busyboxPath, architecture: null, appletSource: null, ct);

    /// <summary>
    /// The same for another architecture's busybox (e.g. arm64 busybox-static for arm64 VMs): the config says
    /// <paramref name="architecture"/>, and the applet list comes from <paramref name="appletSource"/>, a busybox this
    /// host can run built from the same source (a foreign binary cannot list its own applets here).
    /// </summary>
    public async Task<ImageInfo> BuildBusyboxBaseAsync(string name, string busyboxPath, string? architecture, string? appletSource, CancellationToken ct = default)
    {
        var reference = ImageReference.Parse(name, "name");
        if (!File.Exists(busyboxPath))
        {
            throw new StrataException(ErrorKind.Unavailable, $"{busyboxPath} does not exist; install the busybox-static package");
        }
        var applets = await ListAppletsAsync(appletSource ?? busyboxPath, ct).ConfigureAwait(false);
        using var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Ustar, leaveOpen: true))
        {
            void Dir(string path, int mode) => writer.WriteEntry(Entry(TarEntryType.Directory, path + "/", mode));
            void Text(string path, string content, int mode)
            {
                var entry = Entry(TarEntryType.RegularFile, path, mode);
                entry.DataStream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(content));
                writer.WriteEntry(entry);
            }

            Dir("bin", 0b111_101_101);
            await using (var busybox = File.OpenRead(busyboxPath))
            {
                var entry = Entry(TarEntryType.RegularFile, "bin/busybox", 0b111_101_101);
                entry.DataStream = busybox;
                writer.WriteEntry(entry);
            }
            foreach (var applet in applets)
            {
                var link = Entry(TarEntryType.SymbolicLink, "bin/" + applet, 0b111_111_111);
                link.LinkName = "busybox";
                writer.WriteEntry(link);
            }
            Dir("dev", 0b111_101_101);
            Dir("etc", 0b111_101_101);
            Text("etc/group", "root:x:0:\nnogroup:x:65534:\n", 0b110_100_100);
            Text("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n", 0b110_100_100);
            Dir("proc", 0b111_101_101);
            Dir("root", 0b111_000_000);
            Dir("sys", 0b111_101_101);
            Dir("tmp", 0b1_111_111_111);
        }
        var bytes = tar.ToArray();
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            await using var revert = new Revert();
            var (blob, _) = await Blobs.WriteAsync(bytes, ct, revert).ConfigureAwait(false);
            var config = DefaultConfig([blob.ToString()]) with { Created = BaseImageTime.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture) };
            if (architecture is not null && architecture != config.Architecture)
            {
                config = config with { Architecture = architecture, Variant = architecture == "arm64" ? "v8" : null };
            }
            var image = await CreateImageAsync(reference.ToString(), config, [blob], revert, ct).ConfigureAwait(false);
            revert.Success();
            return image;
        }
        finally
        {
            _gate.Release();
        }
    }

    private static UstarTarEntry Entry(TarEntryType type, string name, int mode) => new(type, name)
    {
        Mode = (UnixFileMode)mode,
        ModificationTime = BaseImageTime,
        Uid = 0,
        Gid = 0,
        UserName = "root",
        GroupName = "root",
    };

    private static async Task<IReadOnlyList<string>> ListAppletsAsync(string busyboxPath, CancellationToken ct)
    {
        var result = await HostTool.RunAsync(busyboxPath, ["--list"], cancellationToken: ct).ConfigureAwait(false);
        if (!result.Succeeded)
        {
            throw new StrataException(ErrorKind.Unavailable, $"{busyboxPath} --list exited with {result.ExitCode}: {result.Error}; is it a busybox binary?");
        }
        var output = result.Stdout;
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(a => a != "busybox" && !a.Contains('/', StringComparison.Ordinal) && a is not ("." or ".."))
            .Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
    }

    private static ImageConfigFile DefaultConfig(List<string> diffIds) => new()
    {
        Architecture = PlatformSelector.Host.Architecture,
        Os = "linux",
        Variant = PlatformSelector.Host.Variant,
        Config = new ContainerConfig { Env = [DefaultPath], Cmd = ["sh"] },
        RootFs = new RootFs { DiffIds = diffIds },
    };

    /// <summary>Writes config + OCI manifest for already-stored layer blobs, then unpacks and names the image.</summary>
    /// <summary>
    /// Writes the config and manifest of an image made here and names it; the blobs it adds go onto
    /// <paramref name="revert"/>, so a caller whose image fails to commit (a layer that does not unpack) keeps none.
    /// </summary>
    private async Task<ImageInfo> CreateImageAsync(string reference, ImageConfigFile config, IReadOnlyList<Digest> layers, Revert revert, CancellationToken ct)
    {
        var configBytes = JsonSerializer.SerializeToUtf8Bytes(config, OciJsonContext.Default.ImageConfigFile);
        var (configDigest, configSize) = await Blobs.WriteAsync(configBytes, ct, revert).ConfigureAwait(false);
        var descriptors = layers.Select(l => new Descriptor { MediaType = LayerMediaType(l), Digest = l.ToString(), Size = Blobs.SizeOf(l) }).ToList();
        var manifestDigest = await WriteManifestAsync(
            new Descriptor { MediaType = MediaTypes.OciConfig, Digest = configDigest.ToString(), Size = configSize }, descriptors, ct, revert).ConfigureAwait(false);
        return await CommitAsync(reference, manifestDigest, null, null, ct).ConfigureAwait(false);
    }

    private async Task<Digest> WriteManifestAsync(Descriptor config, List<Descriptor> layers, CancellationToken ct, Revert? revert = null)
    {
        var manifest = new ImageManifest { MediaType = MediaTypes.OciManifest, Config = config, Layers = layers };
        var bytes = JsonSerializer.SerializeToUtf8Bytes(manifest, OciJsonContext.Default.ImageManifest);
        return (await Blobs.WriteAsync(bytes, ct, revert).ConfigureAwait(false)).Digest;
    }

    /// <summary>The layer media type from the blob's first bytes (archives do not say).</summary>
    private string LayerMediaType(Digest blob)
    {
        using var stream = Blobs.OpenRead(blob);
        Span<byte> magic = stackalloc byte[4];
        var n = stream.ReadAtLeast(magic, 4, throwOnEndOfStream: false);
        if (n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b)
        {
            return MediaTypes.OciLayerGzip;
        }
        return n == 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd ? MediaTypes.OciLayerZstd : MediaTypes.OciLayer;
    }

    private static async Task WriteDirectoryTarAsync(string directory, Stream output, CancellationToken ct)
    {
        var root = Path.GetFullPath(directory);
        await using var writer = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true);
        // Sorted, depth-first, without following symlinks: the same tree gives the same entry order.
        async Task Walk(string dir)
        {
            foreach (var path in Directory.EnumerateFileSystemEntries(dir).Order(StringComparer.Ordinal))
            {
                ct.ThrowIfCancellationRequested();
                var relative = Path.GetRelativePath(root, path).Replace('\\', '/');
                var isDir = Layers.LayerUnpacker.KindOf(path) == Layers.LayerUnpacker.EntryKind.Directory;
                await writer.WriteEntryAsync(path, isDir ? relative + "/" : relative, ct).ConfigureAwait(false);
                if (isDir)
                {
                    await Walk(path).ConfigureAwait(false);
                }
            }
        }
        await Walk(root).ConfigureAwait(false);
    }

    private void EnsurePresent(Digest digest, string path)
    {
        if (!Blobs.Exists(digest))
        {
            throw StrataException.Invalid("path", $"archive {path} refers to {digest} but does not contain it");
        }
    }

    private static Digest Lookup(Dictionary<string, Digest> files, string name, string path) =>
        files.TryGetValue(NormalizeArchiveName(name), out var d) ? d
            : throw StrataException.Invalid("path", $"archive {path} refers to '{name}' but does not contain it");

    private static string? NameFromAnnotations(Dictionary<string, string>? annotations)
    {
        if (annotations is null)
        {
            return null;
        }
        if (annotations.TryGetValue("io.containerd.image.name", out var full) && ImageReference.TryParse(full, out var r1, out _))
        {
            return r1!.ToString();
        }
        // ref.name is often only a tag; only a full reference can name an image on its own.
        if (annotations.TryGetValue("org.opencontainers.image.ref.name", out var refName) && refName.Contains('/', StringComparison.Ordinal)
            && ImageReference.TryParse(refName, out var r2, out _))
        {
            return r2!.ToString();
        }
        return null;
    }

    private static string NormalizeArchiveName(string name) =>
        string.Join('/', name.Split('/', StringSplitOptions.RemoveEmptyEntries).Where(p => p != "."));

    private static FileStream OpenArchive(string path)
    {
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw StrataException.NotFound($"archive {path} does not exist");
        }
    }

    private static Stream MaybeGunzip(Stream stream)
    {
        Span<byte> magic = stackalloc byte[2];
        var n = stream.ReadAtLeast(magic, 2, throwOnEndOfStream: false);
        stream.Position = 0;
        return n == 2 && magic[0] == 0x1f && magic[1] == 0x8b ? new GZipStream(stream, CompressionMode.Decompress, leaveOpen: true) : new NonClosingReadStream(stream);
    }

    private static async Task<TarEntry?> NextEntryAsync(TarReader reader, string path, CancellationToken ct)
    {
        try
        {
            return await reader.GetNextEntryAsync(copyData: false, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or EndOfStreamException)
        {
            throw StrataException.Invalid("path", $"{path} is not a valid tar archive: {e.Message}");
        }
    }
}
