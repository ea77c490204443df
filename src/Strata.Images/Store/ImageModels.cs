using System.Text.Json.Serialization;
using Strata.Contracts;

namespace Strata.Images;

/// <summary>What an image holds. Numbers are frozen (they may be persisted by callers).</summary>
public enum ImageKind
{
    /// <summary>A container image: layers that stack into a root filesystem.</summary>
    Oci = 1,
    /// <summary>A Wasm artifact: one <c>application/wasm</c> layer, the module itself.</summary>
    Wasm = 2,
}

/// <summary>One name in the store (as <c>image ls</c> shows it).</summary>
public sealed record ImageInfo
{
    /// <summary>Familiar name, e.g. <c>busybox:latest</c> or <c>127.0.0.1:5000/foo/bar:tag</c>.</summary>
    public required string Name { get; init; }
    /// <summary>Fully normalised reference, e.g. <c>docker.io/library/busybox:latest</c>.</summary>
    public required string Reference { get; init; }
    /// <summary>The image ID: the digest of its config blob (the manifest's for Wasm artifacts without config).</summary>
    public required Digest Id { get; init; }
    public required Digest ManifestDigest { get; init; }
    /// <summary>The multi-arch index the manifest was chosen from, if any.</summary>
    public Digest? IndexDigest { get; init; }
    public required ImageKind Kind { get; init; }
    public string Os { get; init; } = "";
    public string Architecture { get; init; } = "";
    /// <summary>Bytes of manifest, config and layer blobs (compressed, as stored).</summary>
    public long Size { get; init; }
    /// <summary>When this name was added to the store.</summary>
    public DateTimeOffset Added { get; init; }
}

public sealed record ImageLayerInfo(Digest Digest, string MediaType, long Size, Digest? DiffId);

/// <summary>Everything <c>image inspect</c> shows.</summary>
public sealed record ImageDetails
{
    public required ImageInfo Image { get; init; }
    /// <summary>Every name in the store that points at the same manifest.</summary>
    public required IReadOnlyList<string> Names { get; init; }
    public required string ManifestMediaType { get; init; }
    public ImageConfig? Config { get; init; }
    public required IReadOnlyList<ImageLayerInfo> Layers { get; init; }
    public string? Created { get; init; }
}

/// <summary>What a driver needs to build a root filesystem: lowest layer first.</summary>
public sealed record PreparedRootfs(ImageInfo Image, IReadOnlyList<string> LayerDirs, ImageConfig Config);

public sealed record GarbageCollectResult(int BlobsRemoved, int LayersRemoved, long BytesFreed)
{
    /// <summary>Layer directories no name refers to, kept because the caller said something uses them.</summary>
    public int LayersInUse { get; init; }
}

/// <summary>The persisted list of names (<c>&lt;root&gt;/images.json</c>). Version 1.</summary>
internal sealed record ImageIndexFile
{
    public const int CurrentVersion = 1;

    [JsonPropertyName("version")] public int Version { get; init; } = CurrentVersion;
    [JsonPropertyName("images")] public List<ImageRecord> Images { get; init; } = [];
}

internal sealed record ImageRecord
{
    [JsonPropertyName("reference")] public string Reference { get; init; } = "";
    [JsonPropertyName("manifest")] public string Manifest { get; init; } = "";
    [JsonPropertyName("index"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Index { get; init; }
    [JsonPropertyName("added")] public DateTimeOffset Added { get; init; }
}

[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(ImageIndexFile))]
internal sealed partial class StoreJsonContext : JsonSerializerContext;
