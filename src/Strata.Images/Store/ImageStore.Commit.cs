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
    private const string OverlayOpaqueXattr = "trusted.overlay.opaque";

    /// <summary>
    /// <c>strata commit</c>: a container's overlay upper directory becomes one more (gzipped) layer on top of the
    /// image it was created from, with that image's config (and <paramref name="cmd"/> instead of its Cmd when
    /// given), stored and named <paramref name="name"/>. Overlay whiteouts (0:0 character devices) become OCI
    /// <c>.wh.NAME</c> files and opaque directories (<c>trusted.overlay.opaque=y</c>) get a <c>.wh..wh..opq</c>
    /// entry, so deletions carry over. The caller makes sure nothing writes to the directory meanwhile.
    /// </summary>
    public async Task<ImageInfo> CommitLayerAsync(string baseReference, string upperDirectory, string name, IReadOnlyList<string>? cmd, CancellationToken ct = default)
    {
        var reference = ImageReference.Parse(name, "image");
        if (!Directory.Exists(upperDirectory))
        {
            throw StrataException.NotFound($"the container's writable layer {upperDirectory} does not exist");
        }
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        var scratch = Path.Combine(_root, "blobs", ".tmp");
        PrivatePaths.CreateDirectory(scratch);
        var tarPath = Path.Combine(scratch, Guid.NewGuid().ToString("N") + ".tar");
        var gzPath = tarPath + ".gz";
        try
        {
            await using var revert = new Revert();
            var record = Resolve(baseReference);
            var manifestDigest = Digest.Parse(record.Manifest);
            var manifest = ParseManifest(Blobs.ReadAllBytes(manifestDigest), manifestDigest);
            var config = ReadConfig(manifest);

            Digest diffId, blob;
            await using (var tar = new FileStream(tarPath, FileMode.CreateNew, FileAccess.ReadWrite))
            {
                await WriteUpperTarAsync(upperDirectory, tar, ct).ConfigureAwait(false);
                tar.Position = 0;
                diffId = await Digest.ComputeAsync(tar, ct).ConfigureAwait(false);
                tar.Position = 0;
                await using var gz = new FileStream(gzPath, FileMode.CreateNew, FileAccess.ReadWrite);
                await using (var zip = new GZipStream(gz, CompressionLevel.Fastest, leaveOpen: true))
                {
                    await tar.CopyToAsync(zip, ct).ConfigureAwait(false);
                }
                gz.Position = 0;
                (blob, _) = await Blobs.WriteAsync(gz, ct: ct, revert: revert).ConfigureAwait(false);
            }

            var created = _time.GetUtcNow().ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture);
            var history = config.History is null ? null : new List<JsonElement>(config.History)
            {
                JsonDocument.Parse($$"""{"created":"{{created}}","created_by":"strata commit"}""").RootElement.Clone(),
            };
            var next = config with
            {
                Created = created,
                Config = cmd is null ? config.Config : (config.Config ?? new ContainerConfig()) with { Cmd = [.. cmd] },
                RootFs = config.RootFs with { DiffIds = [.. config.RootFs.DiffIds, diffId.ToString()] },
                History = history,
            };
            var layers = manifest.Layers.Select(l => Digest.Parse(l.Digest)).Append(blob).ToList();
            var image = await CreateImageAsync(reference.ToString(), next, layers, revert, ct).ConfigureAwait(false);
            revert.Success();
            return image;
        }
        catch (IOException e) when (DiskFull.Is(e))
        {
            throw DiskFull.Exception($"committing {upperDirectory}", _root, e);
        }
        finally
        {
            File.Delete(tarPath);
            File.Delete(gzPath);
            _gate.Release();
        }
    }

    /// <summary>
    /// The upper directory as an OCI layer tar: sorted, depth-first, symlinks kept, whiteouts converted. An unchanged
    /// container (empty directory) gives the empty layer: just the end-of-archive blocks, as Docker commits it
    /// (<see cref="TarWriter"/> writes no blocks at all when it wrote no entry, which is not a tar archive).
    /// </summary>
    private static async Task WriteUpperTarAsync(string directory, Stream output, CancellationToken ct)
    {
        var start = output.Position;
        await using (var writer = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true))
        {
            await WriteUpperEntriesAsync(Path.GetFullPath(directory), writer, ct).ConfigureAwait(false);
        }
        if (output.Position == start)
        {
            await output.WriteAsync(new byte[EndOfArchiveBytes], ct).ConfigureAwait(false);
        }
    }

    /// <summary>Two zero 512-byte records end a tar archive.</summary>
    private const int EndOfArchiveBytes = 2 * 512;

    private static async Task WriteUpperEntriesAsync(string root, TarWriter writer, CancellationToken ct)
    {
        async Task Walk(string dir)
        {
            foreach (var path in Directory.EnumerateFileSystemEntries(dir).Order(StringComparer.Ordinal))
            {
                ct.ThrowIfCancellationRequested();
                var relative = Path.GetRelativePath(root, path).Replace('\\', '/');
                var kind = LayerUnpacker.KindOf(path);
                if (kind == LayerUnpacker.EntryKind.Other && IsWhiteout(path))
                {
                    var parent = Path.GetDirectoryName(relative);
                    var whiteout = (string.IsNullOrEmpty(parent) ? "" : parent + "/") + ".wh." + Path.GetFileName(relative);
                    await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.RegularFile, whiteout), ct).ConfigureAwait(false);
                    continue;
                }
                var isDir = kind == LayerUnpacker.EntryKind.Directory;
                await writer.WriteEntryAsync(path, isDir ? relative + "/" : relative, ct).ConfigureAwait(false);
                if (isDir)
                {
                    if (Native.GetXattr(path, OverlayOpaqueXattr) is [(byte)'y', ..])
                    {
                        await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.RegularFile, relative + "/.wh..wh..opq"), ct).ConfigureAwait(false);
                    }
                    await Walk(path).ConfigureAwait(false);
                }
            }
        }
        await Walk(root).ConfigureAwait(false);
    }

    /// <summary>overlayfs marks a deleted lower entry with a 0:0 character device of the same name.</summary>
    private static bool IsWhiteout(string path)
    {
        if (new FileInfo(path).Length != 0)
        {
            return false;
        }
        // .NET has no lstat with the file type and device numbers; its tar writer reads them, so ask it.
        using var scratch = new MemoryStream();
        using (var writer = new TarWriter(scratch, TarEntryFormat.Pax, leaveOpen: true))
        {
            writer.WriteEntry(path, "x");
        }
        scratch.Position = 0;
        using var reader = new TarReader(scratch);
        return reader.GetNextEntry() is PosixTarEntry { EntryType: TarEntryType.CharacterDevice, DeviceMajor: 0, DeviceMinor: 0 };
    }
}
