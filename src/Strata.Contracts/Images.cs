using System.Text.Json.Serialization;

namespace Strata.Contracts;

/// <summary>One image name in the daemon's store, as <c>GET /v1/images</c> returns it.</summary>
public sealed record ImageSummary
{
    /// <summary>Familiar name, e.g. <c>busybox:latest</c> or <c>127.0.0.1:5000/team/app:1.0</c>.</summary>
    public required string Name { get; init; }
    /// <summary>Fully normalised reference, e.g. <c>docker.io/library/busybox:latest</c>.</summary>
    public required string Reference { get; init; }
    /// <summary>The image ID (<c>sha256:…</c> of its config blob). Names of one image share it.</summary>
    public required string Id { get; init; }
    public required string ManifestDigest { get; init; }
    /// <summary>The multi-arch index the manifest was chosen from, if any.</summary>
    public string? IndexDigest { get; init; }
    /// <summary><c>oci</c> (a root filesystem), <c>wasm</c> (a module artifact) or <c>disk</c> (a vm tier disk image).</summary>
    public required string Kind { get; init; }
    public string Os { get; init; } = "";
    public string Architecture { get; init; } = "";
    /// <summary>Bytes of manifest, config and layer blobs as stored (compressed).</summary>
    public long Size { get; init; }
    public DateTimeOffset Added { get; init; }
    /// <summary>Booted guests saved for this image (sandbox tier; docs/sandbox.md#templates); null when there are none.</summary>
    public IReadOnlyList<ImageTemplate>? Templates { get; init; }
}

/// <summary>One booted template of an image: the guest saved where it waits for a workload, for one shape (memory, vCPUs, devices).</summary>
public sealed record ImageTemplate
{
    public required string Tier { get; init; }
    public required string Key { get; init; }
    public int MemoryMiB { get; init; }
    public int Cpus { get; init; }
    public bool Network { get; init; }
    /// <summary>Bytes on disk (the memory file is sparse).</summary>
    public long SizeBytes { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
}

public sealed record ImageList(IReadOnlyList<ImageSummary> Items);

/// <summary>
/// The run-time defaults an image carries (from its OCI config blob): one type for the image store, the drivers
/// and the API (<c>GET /v1/images/{reference}</c> returns it as <c>config</c>). Lists are never null; an empty
/// list means the image does not set it.
/// </summary>
public sealed record ImageConfig
{
    private readonly IReadOnlyList<string> _entrypoint = [];
    private readonly IReadOnlyList<string> _cmd = [];
    private readonly IReadOnlyList<string> _env = [];
    private readonly IReadOnlyList<string> _exposedPorts = [];
    private readonly IReadOnlyDictionary<string, string> _labels = new Dictionary<string, string>();

    // The JSON reader sets every init-only member, absent ones to null: null becomes "not set" here.
    public IReadOnlyList<string> Entrypoint { get => _entrypoint; init => _entrypoint = value ?? []; }
    public IReadOnlyList<string> Cmd { get => _cmd; init => _cmd = value ?? []; }
    /// <summary><c>KEY=value</c> entries, in image order.</summary>
    public IReadOnlyList<string> Env { get => _env; init => _env = value ?? []; }
    public string? WorkingDir { get; init; }
    public string? User { get; init; }
    /// <summary>e.g. <c>80/tcp</c>.</summary>
    public IReadOnlyList<string> ExposedPorts { get => _exposedPorts; init => _exposedPorts = value ?? []; }
    public IReadOnlyDictionary<string, string> Labels { get => _labels; init => _labels = value ?? new Dictionary<string, string>(); }
    public string? StopSignal { get; init; }
    /// <summary>
    /// The platform the config states (<c>linux</c>, <c>amd64</c>); empty when it states none. Not part of the
    /// config's JSON (the API gives the platform in <see cref="ImageSummary"/>), so the shape clients read is unchanged.
    /// </summary>
    [JsonIgnore] public string Os { get; init; } = "";
    [JsonIgnore] public string Architecture { get; init; } = "";
}

public sealed record ImageLayer(string Digest, string MediaType, long Size, string? DiffId);

/// <summary>Everything <c>GET /v1/images/{reference}</c> returns.</summary>
public sealed record ImageDetail
{
    public required ImageSummary Image { get; init; }
    /// <summary>Every name in the store that points at the same manifest.</summary>
    public required IReadOnlyList<string> Names { get; init; }
    public required string ManifestMediaType { get; init; }
    public ImageConfig? Config { get; init; }
    public required IReadOnlyList<ImageLayer> Layers { get; init; }
    /// <summary>The config's <c>created</c> time, as the image states it.</summary>
    public string? Created { get; init; }
}

/// <summary>Body of <c>POST /v1/images/pull</c>.</summary>
public sealed record PullImageRequest
{
    public required string Reference { get; init; }
    public string? Username { get; init; }
    public string? Password { get; init; }
    /// <summary>Allow plain HTTP to this image's registry for this pull (as if listed with <c>--insecure-registry</c>).</summary>
    public bool Insecure { get; init; }
}

/// <summary>Body of <c>POST /v1/images/build-base</c>.</summary>
public sealed record BuildBaseImageRequest
{
    /// <summary>The name to give the image; default <c>busybox:latest</c> (<c>busybox:arm64</c> for arm64).</summary>
    public string? Name { get; init; }
    /// <summary>Architecture: null or <c>amd64</c> = the host's busybox; <c>arm64</c> = the arm64 guest busybox (vm tier).</summary>
    public string? Arch { get; init; }
}

/// <summary>Body of <c>POST /v1/images/tag</c>.</summary>
public sealed record TagImageRequest
{
    public required string Source { get; init; }
    public required string Target { get; init; }
}

/// <summary>Answer of <c>DELETE /v1/images/{reference}</c>: the names that were removed.</summary>
public sealed record RemovedImages(IReadOnlyList<string> Removed)
{
    /// <summary>
    /// Instances (<c>project/name</c> outside the <c>default</c> project) still running on the image whose last name
    /// was removed (<c>force=true</c>): only the name went; its layers stay until no instance uses them.
    /// </summary>
    public IReadOnlyList<string>? StillUsedBy { get; init; }

    /// <summary>What happened beyond the removed names, in words (set with <see cref="StillUsedBy"/>).</summary>
    public string? Message { get; init; }
}

/// <summary>Answer of <c>POST /v1/images/prune</c>.</summary>
public sealed record PruneImagesResult(int BlobsRemoved, int LayersRemoved, long BytesFreed)
{
    /// <summary>Unpacked layers no name refers to that were kept because instances (or their snapshots) stand on them.</summary>
    public int LayersInUse { get; init; }

    /// <summary>Booted templates removed (all of them; each image's next start makes its own again), included in <see cref="BytesFreed"/>.</summary>
    public int TemplatesRemoved { get; init; }
}
