using System.Formats.Tar;
using System.Text.Json;
using Strata.Images.Oci;

namespace Strata.Images;

/// <summary>
/// One image as <see cref="ImageStore.WriteOciLayoutAsync"/> writes it: its manifest, config and layers (not an index
/// it was pulled through), under <see cref="Name"/>.
/// </summary>
public sealed record ImageExport(ImageInfo Image, string Name, IReadOnlyList<Digest> Blobs, long Bytes);

public sealed partial class ImageStore
{
    /// <summary>
    /// What exporting the image <paramref name="reference"/> names (a name, an ID or a digest) writes: its blobs and
    /// their size, under <paramref name="name"/> (default: the name it was found by, or its first name).
    /// </summary>
    public ImageExport PlanExport(string reference, string? name = null)
    {
        var record = Resolve(reference);
        var info = ToInfo(record);
        var manifestDigest = Digest.Parse(record.Manifest);
        var manifest = ParseManifest(Blobs.ReadAllBytes(manifestDigest), manifestDigest);
        List<Digest> blobs = [manifestDigest];
        if (manifest.Config.Digest.Length > 0)
        {
            blobs.Add(Digest.Parse(manifest.Config.Digest));
        }
        blobs.AddRange(manifest.Layers.Select(l => Digest.Parse(l.Digest)));
        blobs = [.. blobs.Distinct()];
        return new ImageExport(info, name ?? info.Reference, blobs, blobs.Sum(Blobs.SizeOf));
    }

    /// <summary>
    /// Writes the image as an OCI image-layout tar to <paramref name="output"/> as it goes (each blob is streamed from
    /// its file; nothing is held whole in memory), the form <see cref="ImportArchiveAsync"/> takes: its manifest
    /// keeps its digest, so the importing store gets the same image ID, named by <see cref="ImageExport.Name"/>.
    /// <paramref name="progress"/> hears the bytes of blobs written so far.
    /// </summary>
    public async Task WriteOciLayoutAsync(ImageExport export, Stream output, IProgress<long>? progress, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(export);
        var manifestDigest = export.Image.ManifestDigest;
        var manifestBytes = Blobs.ReadAllBytes(manifestDigest);
        var index = new ImageIndex
        {
            MediaType = MediaTypes.OciIndex,
            Manifests =
            [
                new Descriptor
                {
                    MediaType = ParseManifest(manifestBytes, manifestDigest).MediaType ?? MediaTypes.OciManifest,
                    Digest = manifestDigest.ToString(),
                    Size = manifestBytes.Length,
                    Annotations = new() { ["io.containerd.image.name"] = ImageReference.Parse(export.Name).ToString() },
                },
            ],
        };
        var writer = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true);
        await using (writer.ConfigureAwait(false))
        {
            await WriteSmallAsync(writer, "oci-layout", """{"imageLayoutVersion":"1.0.0"}"""u8.ToArray(), ct).ConfigureAwait(false);
            await WriteSmallAsync(writer, "index.json", JsonSerializer.SerializeToUtf8Bytes(index, OciJsonContext.Default.ImageIndex), ct).ConfigureAwait(false);
            long sent = 0;
            foreach (var blob in export.Blobs)
            {
                var file = Blobs.OpenRead(blob);
                await using (file.ConfigureAwait(false))
                {
                    var entry = new PaxTarEntry(TarEntryType.RegularFile, "blobs/sha256/" + blob.Hex) { DataStream = file, Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite };
                    await writer.WriteEntryAsync(entry, ct).ConfigureAwait(false);
                    sent += file.Length;
                }
                progress?.Report(sent);
            }
        }
    }

    private static async Task WriteSmallAsync(TarWriter writer, string name, byte[] bytes, CancellationToken ct)
    {
        using var data = new MemoryStream(bytes, writable: false);
        await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = data, Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite }, ct).ConfigureAwait(false);
    }
}
