using System.Text.Json;
using Strata.Contracts;
using Strata.Images.Blobs;
using Strata.Images.Oci;
using Strata.Images.Registry;

namespace Strata.Images;

/// <summary>The image store and registries: pull (verified, platform-picked, healing) and push.</summary>
public sealed partial class ImageStore
{
    /// <summary>
    /// Pulls <paramref name="reference"/> (tag or digest) from its registry, verifying every blob, picks the host
    /// platform from a multi-arch index, unpacks the layers and records the name. Blobs already present are
    /// re-hashed; a corrupted one is fetched again (so a pull heals a damaged store).
    /// </summary>
    public async Task<ImageInfo> PullAsync(string reference, RegistryOptions? options = null, IProgress<PullProgress>? progress = null,
        CancellationToken ct = default)
    {
        var parsed = ImageReference.Parse(reference);
        options ??= new RegistryOptions();
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var started = _time.GetTimestamp();
            int fetched = 0, present = 0;
            long fetchedBytes = 0;
            using var client = new RegistryClient(parsed.Registry, options);
            var (bytes, mediaType, digest) = await client.GetManifestAsync(parsed.Repository, parsed.ManifestReference, ct).ConfigureAwait(false);
            Digest? indexDigest = null;
            if (IsIndex(bytes, mediaType))
            {
                var index = JsonSerializer.Deserialize(bytes, OciJsonContext.Default.ImageIndex)!;
                var platform = options.Platform ?? PlatformSelector.Host;
                var chosen = PlatformSelector.Select(index, platform) ?? throw new StrataException(ErrorKind.NotFound,
                    $"{parsed.FamiliarName} has no image for {platform} (it has: {string.Join(", ", index.Manifests.Select(m => m.Platform?.ToString() ?? "?"))})");
                await Blobs.WriteAsync(bytes, ct).ConfigureAwait(false);
                indexDigest = digest;
                var chosenDigest = Digest.Parse(chosen.Digest, "index.manifests.digest");
                (bytes, mediaType, digest) = await client.GetManifestAsync(parsed.Repository, chosenDigest.ToString(), ct).ConfigureAwait(false);
            }
            var manifest = ParseManifest(bytes, digest);
            await Blobs.WriteAsync(bytes, ct).ConfigureAwait(false);

            var wanted = new List<Descriptor> { manifest.Config };
            wanted.AddRange(manifest.Layers);
            foreach (var descriptor in wanted)
            {
                if (descriptor.Size == 0 && descriptor.Digest.Length == 0)
                {
                    continue;
                }
                var blob = Digest.Parse(descriptor.Digest, "manifest descriptor digest");
                var kind = descriptor == manifest.Config ? "config" : "layer";
                if (await Blobs.IsIntactAsync(blob, ct).ConfigureAwait(false))
                {
                    progress?.Report(new PullProgress(blob.ToString(), kind, descriptor.Size, descriptor.Size, PullPhase.AlreadyPresent));
                    present++;
                    continue;
                }
                Blobs.Delete(blob);
                var (body, _, response) = await client.GetBlobAsync(parsed.Repository, blob, ct).ConfigureAwait(false);
                using (response)
                await using (body)
                {
                    await Blobs.WriteAsync(body, blob, descriptor.Size, current =>
                        progress?.Report(new PullProgress(blob.ToString(), kind, current, descriptor.Size, PullPhase.Downloading)), ct).ConfigureAwait(false);
                }
                progress?.Report(new PullProgress(blob.ToString(), kind, descriptor.Size, descriptor.Size, PullPhase.Done));
                fetched++;
                fetchedBytes += descriptor.Size;
            }

            var storedName = parsed.Tag is null ? parsed : parsed.WithTag(parsed.Tag);
            var info = await CommitAsync(storedName.ToString(), digest, indexDigest, progress, ct).ConfigureAwait(false);
            LogPulled(info.Name, parsed.Registry, fetched, fetchedBytes, present, (long)_time.GetElapsedTime(started).TotalMilliseconds);
            return info;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Pushes a stored image to a registry (monolithic blob uploads, then the manifest).</summary>
    public async Task PushAsync(string localReference, string remoteReference, RegistryOptions? options = null,
        IProgress<PullProgress>? progress = null, CancellationToken ct = default)
    {
        var record = Resolve(localReference);
        var remote = ImageReference.Parse(remoteReference, "destination");
        using var client = new RegistryClient(remote.Registry, options ?? new RegistryOptions());
        var manifestDigest = Digest.Parse(record.Manifest);
        var bytes = Blobs.ReadAllBytes(manifestDigest);
        var manifest = ParseManifest(bytes, manifestDigest);
        foreach (var descriptor in new[] { manifest.Config }.Concat(manifest.Layers))
        {
            var blob = Digest.Parse(descriptor.Digest);
            await Blobs.VerifyAsync(blob, ct).ConfigureAwait(false);
            if (await client.BlobExistsAsync(remote.Repository, blob, ct).ConfigureAwait(false))
            {
                progress?.Report(new PullProgress(blob.ToString(), "blob", descriptor.Size, descriptor.Size, PullPhase.AlreadyPresent));
                continue;
            }
            progress?.Report(new PullProgress(blob.ToString(), "blob", 0, descriptor.Size, PullPhase.Uploading));
            await client.PushBlobAsync(remote.Repository, blob, () => Blobs.OpenRead(blob), Blobs.SizeOf(blob), ct).ConfigureAwait(false);
            progress?.Report(new PullProgress(blob.ToString(), "blob", descriptor.Size, descriptor.Size, PullPhase.Done));
        }
        await client.PutManifestAsync(remote.Repository, remote.ManifestReference, bytes, manifest.MediaType ?? MediaTypes.OciManifest, ct).ConfigureAwait(false);
        LogPushed(Familiar(record.Reference), remote.ToString(), manifestDigest);
    }

    private static bool IsIndex(byte[] bytes, string mediaType)
    {
        if (MediaTypes.IsIndex(mediaType))
        {
            return true;
        }
        if (MediaTypes.IsManifest(mediaType))
        {
            return false;
        }
        var probe = JsonSerializer.Deserialize(bytes, OciJsonContext.Default.MediaTypeProbe);
        return MediaTypes.IsIndex(probe?.MediaType) || (probe?.Manifests is not null && probe.Config is null);
    }
}
