using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Contracts.Host;
using Strata.Images.Blobs;
using Strata.Images.Layers;
using Strata.Images.Oci;
using Strata.Images.Registry;

namespace Strata.Images;

/// <summary>
/// The OCI image store under one data root:
/// <c>blobs/sha256/&lt;hex&gt;</c> (verified content), <c>layers/&lt;diffid hex&gt;/</c> (unpacked, shared, never
/// modified once in place) and <c>images.json</c> (names → manifest digests, versioned, written atomically).
/// Mutating operations are serialised by one lock, so garbage collection never races a pull or import.
/// </summary>
public sealed partial class ImageStore
{
    private readonly string _root;
    private readonly string _layersDir;
    private readonly string _indexPath;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly ILogger _logger;

    public ImageStore(string root, TimeProvider? time = null, ILogger<ImageStore>? logger = null)
    {
        _root = Path.GetFullPath(root);
        _time = time ?? TimeProvider.System;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        PrivatePaths.CreateDirectory(_root);
        Blobs = new BlobStore(_root);
        _layersDir = Path.Combine(_root, "layers");
        PrivatePaths.CreateDirectory(_layersDir);
        _indexPath = Path.Combine(_root, "images.json");
        Blobs.CleanTemp();
        foreach (var stale in Directory.EnumerateDirectories(_layersDir, ".tmp-*"))
        {
            TryDeleteDirectory(stale);
        }
    }

    public string Root => _root;

    public BlobStore Blobs { get; }

    /// <summary>The directory a layer with this diff_id is (or would be) unpacked into.</summary>
    public string LayerPath(Digest diffId) => Path.Combine(_layersDir, diffId.Hex);

    // ---------------------------------------------------------------- queries

    public IReadOnlyList<ImageInfo> List() =>
        ReadIndex().Images.Select(ToInfo).OrderBy(i => i.Name, StringComparer.Ordinal).ToList();

    public ImageDetails Inspect(string reference)
    {
        var record = Resolve(reference);
        var info = ToInfo(record);
        var manifestDigest = Digest.Parse(record.Manifest);
        var manifest = ParseManifest(Blobs.ReadAllBytes(manifestDigest), manifestDigest);
        ImageConfigFile? config = info.Kind == ImageKind.Oci ? ReadConfig(manifest) : null;
        var layers = manifest.Layers.Select((l, i) => new ImageLayerInfo(Digest.Parse(l.Digest), l.MediaType, l.Size,
            config is not null && i < config.RootFs.DiffIds.Count ? Digest.Parse(config.RootFs.DiffIds[i]) : null)).ToList();
        return new ImageDetails
        {
            Image = info,
            Names = ReadIndex().Images.Where(r => r.Manifest == record.Manifest).Select(r => Familiar(r.Reference)).Order(StringComparer.Ordinal).ToList(),
            ManifestMediaType = manifest.MediaType ?? MediaTypes.OciManifest,
            Config = config is null ? null : ToConfig(config),
            Layers = layers,
            Created = config?.Created,
        };
    }

    /// <summary>
    /// Makes sure every layer is unpacked (verifying a blob before unpacking it) and returns the layer directories,
    /// lowest first, with the image config. For overlayfs: <c>lowerdir</c> = these directories reversed.
    /// </summary>
    public async Task<PreparedRootfs> PrepareRootfsLayersAsync(string reference, CancellationToken ct = default)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var record = Resolve(reference);
            var info = ToInfo(record);
            if (info.Kind != ImageKind.Oci)
            {
                throw new StrataException(ErrorKind.InvalidArgument,
                    $"image {info.Name} is a Wasm module, not a root filesystem; run it on the wasm tier");
            }
            var manifestDigest = Digest.Parse(record.Manifest);
            var manifest = ParseManifest(Blobs.ReadAllBytes(manifestDigest), manifestDigest);
            var config = ReadConfig(manifest);
            var dirs = new List<string>();
            for (var i = 0; i < manifest.Layers.Count; i++)
            {
                var diffId = Digest.Parse(config.RootFs.DiffIds[i]);
                if (!Directory.Exists(LayerPath(diffId)))
                {
                    // A layer that is not unpacked yet (its directory was removed): the slow part of this create.
                    CreateProgress.Report("layers", $"unpacking layer {i + 1}/{manifest.Layers.Count}", i + 1, manifest.Layers.Count);
                }
                dirs.Add(await EnsureLayerAsync(manifest.Layers[i], diffId, null, ct).ConfigureAwait(false));
            }
            return new PreparedRootfs(info, dirs, ToConfig(config));
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>The path of a Wasm artifact's module blob (verified first).</summary>
    public async Task<string> GetWasmModulePathAsync(string reference, CancellationToken ct = default)
    {
        var record = Resolve(reference);
        var info = ToInfo(record);
        if (info.Kind != ImageKind.Wasm)
        {
            throw new StrataException(ErrorKind.InvalidArgument, $"image {info.Name} is not a Wasm artifact (its layers are a root filesystem)");
        }
        var manifestDigest = Digest.Parse(record.Manifest);
        var layer = Digest.Parse(ParseManifest(Blobs.ReadAllBytes(manifestDigest), manifestDigest).Layers[0].Digest);
        await Blobs.VerifyAsync(layer, ct).ConfigureAwait(false);
        return Blobs.PathOf(layer);
    }

    /// <summary>Re-hashes the manifest, config and every layer blob; throws naming the first bad digest.</summary>
    public async Task VerifyAsync(string reference, CancellationToken ct = default)
    {
        var record = Resolve(reference);
        foreach (var digest in BlobsOf(record))
        {
            await Blobs.VerifyAsync(digest, ct).ConfigureAwait(false);
        }
    }

    // ---------------------------------------------------------------- names

    /// <summary>Adds <paramref name="target"/> as another name of the image <paramref name="source"/> names.</summary>
    public void Tag(string source, string target)
    {
        var dst = ImageReference.Parse(target, "target");
        if (dst.Digest is not null)
        {
            throw StrataException.Invalid("target", "a tag target cannot contain a digest");
        }
        _gate.Wait();
        try
        {
            var record = Resolve(source);
            UpdateIndex(index => Upsert(index, record with { Reference = dst.ToString(), Added = _time.GetUtcNow() }));
            LogTagged(Familiar(record.Reference), Familiar(dst.ToString()));
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Removes a name (or, given an image ID, all its names). Refused with a conflict while
    /// <paramref name="isInUse"/> says instances use the image, unless <paramref name="force"/>.
    /// Blobs and layers are freed by <see cref="GarbageCollect"/>.
    /// </summary>
    public IReadOnlyList<string> Remove(string reference, bool force = false, Func<ImageInfo, bool>? isInUse = null)
    {
        _gate.Wait();
        try
        {
            var index = ReadIndex();
            var byName = FindByName(index, reference);
            List<ImageRecord> victims;
            if (byName is not null)
            {
                victims = [byName];
            }
            else
            {
                var record = Resolve(reference);
                victims = index.Images.Where(r => r.Manifest == record.Manifest).ToList();
                if (victims.Count > 1 && !force)
                {
                    throw StrataException.Conflict(
                        $"image {reference} has {victims.Count} names ({string.Join(", ", victims.Select(v => Familiar(v.Reference)))}); remove them by name or use --force");
                }
            }
            foreach (var victim in victims)
            {
                var info = ToInfo(victim);
                var lastName = index.Images.Count(r => r.Manifest == victim.Manifest) - victims.Count(v => v.Manifest == victim.Manifest) == 0;
                if (!force && lastName && isInUse?.Invoke(info) == true)
                {
                    throw StrataException.Conflict($"image {info.Name} is in use by instances; remove them first or use --force");
                }
            }
            UpdateIndex(i => i.Images.RemoveAll(r => victims.Any(v => v.Reference == r.Reference)));
            var removed = victims.Select(v => Familiar(v.Reference)).ToList();
            LogRemoved(string.Join(", ", removed), force);
            return removed;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Deletes blobs and unpacked layers no name refers to (and leftovers of interrupted work). Layer directories
    /// for which <paramref name="isLayerInUse"/> returns true (the full path, as <see cref="LayerPath"/> gives it:
    /// instances stand on it) are kept, so removing an image's last name never takes the files from under a
    /// container; the blobs go (a running container needs only the unpacked layers).
    /// </summary>
    public GarbageCollectResult GarbageCollect(Func<string, bool>? isLayerInUse = null)
    {
        _gate.Wait();
        try
        {
            var keepBlobs = new HashSet<Digest>();
            var keepLayers = new HashSet<string>(StringComparer.Ordinal);
            foreach (var record in ReadIndex().Images)
            {
                foreach (var d in BlobsOf(record))
                {
                    keepBlobs.Add(d);
                }
                var manifestDigest = Digest.Parse(record.Manifest);
                if (Blobs.Exists(manifestDigest) && ToInfo(record).Kind == ImageKind.Oci)
                {
                    var manifest = ParseManifest(Blobs.ReadAllBytes(manifestDigest), manifestDigest);
                    if (Blobs.Exists(Digest.Parse(manifest.Config.Digest)))
                    {
                        foreach (var diffId in ReadConfig(manifest).RootFs.DiffIds)
                        {
                            keepLayers.Add(Digest.Parse(diffId).Hex);
                        }
                    }
                }
            }
            int blobs = 0, layers = 0, inUse = 0;
            long bytes = 0;
            foreach (var blob in Blobs.List().ToList())
            {
                if (!keepBlobs.Contains(blob))
                {
                    bytes += Blobs.SizeOf(blob);
                    Blobs.Delete(blob);
                    blobs++;
                }
            }
            foreach (var dir in Directory.EnumerateDirectories(_layersDir).ToList())
            {
                if (keepLayers.Contains(Path.GetFileName(dir)))
                {
                    continue;
                }
                if (isLayerInUse?.Invoke(dir) == true)
                {
                    inUse++;
                    continue;
                }
                TryDeleteDirectory(dir);
                layers++;
            }
            Blobs.CleanTemp();
            LogCollected(blobs, layers, bytes, inUse);
            return new GarbageCollectResult(blobs, layers, bytes) { LayersInUse = inUse };
        }
        finally
        {
            _gate.Release();
        }
    }

    // ---------------------------------------------------------------- internals

    /// <summary>Checks the image is complete, unpacks its layers, then records the name (last, so a failure leaves no name).</summary>
    private async Task<ImageInfo> CommitAsync(string reference, Digest manifestDigest, Digest? indexDigest, IProgress<PullProgress>? progress, CancellationToken ct)
    {
        var manifest = ParseManifest(Blobs.ReadAllBytes(manifestDigest), manifestDigest);
        if (KindOf(manifest) == ImageKind.Oci)
        {
            var config = ReadConfig(manifest);
            if (config.RootFs.DiffIds.Count != manifest.Layers.Count)
            {
                throw new StrataException(ErrorKind.InvalidArgument,
                    $"image {manifestDigest} lists {manifest.Layers.Count} layers but its config has {config.RootFs.DiffIds.Count} diff_ids; refusing it");
            }
            for (var i = 0; i < manifest.Layers.Count; i++)
            {
                await EnsureLayerAsync(manifest.Layers[i], Digest.Parse(config.RootFs.DiffIds[i], "rootfs.diff_ids"), progress, ct).ConfigureAwait(false);
            }
        }
        var record = new ImageRecord
        {
            Reference = reference,
            Manifest = manifestDigest.ToString(),
            Index = indexDigest?.ToString(),
            Added = _time.GetUtcNow(),
        };
        UpdateIndex(index => Upsert(index, record));
        var info = ToInfo(record);
        LogStored(info.Name, manifestDigest, manifest.Layers.Count, info.Kind);
        return info;
    }

    /// <summary>Unpacks a layer into <c>layers/&lt;diffid&gt;</c> unless it is there already: temp dir, verify, rename.</summary>
    private async Task<string> EnsureLayerAsync(Descriptor layer, Digest diffId, IProgress<PullProgress>? progress, CancellationToken ct)
    {
        var final = LayerPath(diffId);
        if (Directory.Exists(final))
        {
            return final;
        }
        if (!MediaTypes.IsLayer(layer.MediaType))
        {
            throw new StrataException(ErrorKind.InvalidArgument, $"layer {layer.Digest} has media type '{layer.MediaType}', which is not a filesystem layer");
        }
        var blob = Digest.Parse(layer.Digest);
        await Blobs.VerifyAsync(blob, ct).ConfigureAwait(false);
        progress?.Report(new PullProgress(blob.ToString(), "layer", 0, layer.Size, PullPhase.Unpacking));
        UnpackLimits.CheckFreeSpace(_layersDir, layer.Size, $"layer {blob}");
        var tmp = Path.Combine(_layersDir, ".tmp-" + Guid.NewGuid().ToString("N"));
        try
        {
            await using var revert = new Revert();
            Directory.CreateDirectory(tmp);
            revert.Add(() => TryDeleteDirectory(tmp));
            var started = _time.GetTimestamp();
            LayerUnpackResult result;
            await using (var stream = Blobs.OpenRead(blob))
            {
                result = await Task.Run(() => LayerUnpacker.Unpack(stream, tmp, blob.ToString(), ct, UnpackLimits), ct).ConfigureAwait(false);
            }
            if (result.DiffId != diffId)
            {
                throw new StrataException(ErrorKind.InvalidArgument,
                    $"layer {blob} unpacks to {result.DiffId} but the image config says {diffId}; refusing it");
            }
            try
            {
                Directory.Move(tmp, final);
            }
            catch (IOException) when (Directory.Exists(final))
            {
                TryDeleteDirectory(tmp);
            }
            revert.Success();
            LogLayerUnpacked(blob, diffId, (long)_time.GetElapsedTime(started).TotalMilliseconds);
            progress?.Report(new PullProgress(blob.ToString(), "layer", layer.Size, layer.Size, PullPhase.Unpacked));
            return final;
        }
        catch (Exception e) when (LogUnpackFailed(blob, e) || DiskFull.Is(e))
        {
            throw DiskFull.Exception($"unpacking layer {blob}", _root, e);
        }
    }

    internal static ImageManifest ParseManifest(byte[] bytes, Digest digest)
    {
        ImageManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize(bytes, OciJsonContext.Default.ImageManifest);
        }
        catch (JsonException e)
        {
            throw new StrataException(ErrorKind.InvalidArgument, $"manifest {digest} is not valid JSON: {e.Message}", inner: e);
        }
        if (manifest is null || manifest.SchemaVersion != 2 || (manifest.MediaType is not null && !MediaTypes.IsManifest(manifest.MediaType)))
        {
            throw new StrataException(ErrorKind.InvalidArgument,
                $"manifest {digest} is not an OCI or Docker v2 schema 2 image manifest (media type '{manifest?.MediaType}')");
        }
        return manifest;
    }

    internal static ImageKind KindOf(ImageManifest manifest) =>
        manifest.Layers.Count == 1 && MediaTypes.IsWasmLayer(manifest.Layers[0].MediaType) ? ImageKind.Wasm : ImageKind.Oci;

    private ImageConfigFile ReadConfig(ImageManifest manifest)
    {
        var digest = Digest.Parse(manifest.Config.Digest, "manifest.config.digest");
        try
        {
            return JsonSerializer.Deserialize(Blobs.ReadAllBytes(digest), OciJsonContext.Default.ImageConfigFile)
                ?? throw new JsonException("empty");
        }
        catch (JsonException e)
        {
            throw new StrataException(ErrorKind.InvalidArgument, $"image config {digest} is not valid JSON: {e.Message}", inner: e);
        }
    }

    private static ImageConfig ToConfig(ImageConfigFile file) => new()
    {
        Entrypoint = file.Config?.Entrypoint ?? [],
        Cmd = file.Config?.Cmd ?? [],
        Env = file.Config?.Env ?? [],
        WorkingDir = string.IsNullOrEmpty(file.Config?.WorkingDir) ? null : file.Config.WorkingDir,
        User = string.IsNullOrEmpty(file.Config?.User) ? null : file.Config.User,
        ExposedPorts = file.Config?.ExposedPorts?.Keys.Order(StringComparer.Ordinal).ToList() ?? [],
        Labels = file.Config?.Labels ?? new Dictionary<string, string>(),
        StopSignal = file.Config?.StopSignal,
        Os = file.Os,
        Architecture = file.Architecture,
    };

    private IEnumerable<Digest> BlobsOf(ImageRecord record)
    {
        if (record.Index is not null)
        {
            yield return Digest.Parse(record.Index);
        }
        var manifestDigest = Digest.Parse(record.Manifest);
        yield return manifestDigest;
        if (!Blobs.Exists(manifestDigest))
        {
            yield break;
        }
        var manifest = ParseManifest(Blobs.ReadAllBytes(manifestDigest), manifestDigest);
        if (manifest.Config.Digest.Length > 0)
        {
            yield return Digest.Parse(manifest.Config.Digest);
        }
        foreach (var layer in manifest.Layers)
        {
            yield return Digest.Parse(layer.Digest);
        }
    }

    private ImageInfo ToInfo(ImageRecord record)
    {
        var manifestDigest = Digest.Parse(record.Manifest);
        if (!Blobs.Exists(manifestDigest))
        {
            throw StrataException.NotFound($"image {Familiar(record.Reference)} lost its manifest {manifestDigest}; pull it again");
        }
        var manifestBytes = Blobs.ReadAllBytes(manifestDigest);
        var manifest = ParseManifest(manifestBytes, manifestDigest);
        var kind = KindOf(manifest);
        string os = "", arch = "";
        if (kind == ImageKind.Oci && Blobs.Exists(Digest.Parse(manifest.Config.Digest)))
        {
            var config = ReadConfig(manifest);
            (os, arch) = (config.Os, config.Architecture);
        }
        else if (kind == ImageKind.Wasm)
        {
            (os, arch) = ("wasip1", "wasm");
        }
        return new ImageInfo
        {
            Name = Familiar(record.Reference),
            Reference = record.Reference,
            Id = Digest.TryParse(manifest.Config.Digest, out var id) ? id : manifestDigest,
            ManifestDigest = manifestDigest,
            IndexDigest = record.Index is null ? null : Digest.Parse(record.Index),
            Kind = kind,
            Os = os,
            Architecture = arch,
            Size = manifestBytes.Length + manifest.Config.Size + manifest.Layers.Sum(l => l.Size),
            Added = record.Added,
        };
    }

    private static void TryDeleteDirectory(string path)
    {
        try
        {
            if (Directory.Exists(path))
            {
                Directory.Delete(path, recursive: true);
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
