namespace Strata.Images.Oci;

/// <summary>The media types the store understands (OCI image spec 1.1 and Docker image manifest v2 schema 2).</summary>
public static class MediaTypes
{
    public const string OciIndex = "application/vnd.oci.image.index.v1+json";
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    public const string OciConfig = "application/vnd.oci.image.config.v1+json";
    public const string OciLayer = "application/vnd.oci.image.layer.v1.tar";
    public const string OciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
    public const string OciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
    public const string OciLayerNonDistributableGzip = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
    public const string DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";
    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
    public const string DockerConfig = "application/vnd.docker.container.image.v1+json";
    public const string DockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    public const string DockerForeignLayerGzip = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
    public const string Wasm = "application/wasm";
    public const string WasmLayer = "application/vnd.wasm.content.layer.v1+wasm";
    public const string WasmConfig = "application/vnd.wasm.config.v0+json";

    /// <summary>The Accept header sent for manifests: every manifest and index type we can read.</summary>
    public static readonly IReadOnlyList<string> ManifestAccept = [OciIndex, OciManifest, DockerManifestList, DockerManifest];

    public static bool IsIndex(string? mediaType) => mediaType is OciIndex or DockerManifestList;

    public static bool IsManifest(string? mediaType) => mediaType is OciManifest or DockerManifest;

    public static bool IsWasmLayer(string? mediaType) => mediaType is Wasm or WasmLayer;

    public static bool IsLayer(string? mediaType) => mediaType is not null &&
        (mediaType.StartsWith("application/vnd.oci.image.layer.", StringComparison.Ordinal) ||
         mediaType.StartsWith("application/vnd.docker.image.rootfs.", StringComparison.Ordinal));
}
