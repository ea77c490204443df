using System.Formats.Tar;
using System.Text;
using System.Text.Json;
using Strata.Images.Oci;

namespace Strata.Images.Tests;

/// <summary>Writes docker-save and OCI-layout tarballs the way docker/podman/skopeo lay them out.</summary>
public static class ArchiveBuilder
{
    public static byte[] ConfigJson(string arch, IEnumerable<Digest> diffIds, List<string>? cmd = null) =>
        JsonSerializer.SerializeToUtf8Bytes(new ImageConfigFile
        {
            Architecture = arch,
            Os = "linux",
            Config = new ContainerConfig { Cmd = cmd ?? ["/bin/hello"], Env = ["PATH=/bin"], WorkingDir = "/srv", User = "1000:1000", Labels = new() { ["org.example"] = "yes" } },
            RootFs = new RootFs { DiffIds = diffIds.Select(d => d.ToString()).ToList() },
        }, OciJsonContext.Default.ImageConfigFile);

    public static byte[] ManifestJson(byte[] config, IEnumerable<(byte[] Bytes, string MediaType)> layers, string configType = MediaTypes.OciConfig) =>
        JsonSerializer.SerializeToUtf8Bytes(new ImageManifest
        {
            MediaType = MediaTypes.OciManifest,
            Config = new Descriptor { MediaType = configType, Digest = Digest.Compute(config).ToString(), Size = config.Length },
            Layers = layers.Select(l => new Descriptor { MediaType = l.MediaType, Digest = Digest.Compute(l.Bytes).ToString(), Size = l.Bytes.Length }).ToList(),
        }, OciJsonContext.Default.ImageManifest);

    public static void DockerSave(string path, byte[] layerTar, string repoTag, byte[]? config = null)
    {
        config ??= ConfigJson("amd64", [Digest.Compute(layerTar)]);
        var configName = Digest.Compute(config).Hex + ".json";
        var manifest = $$"""[{"Config":"{{configName}}","RepoTags":["{{repoTag}}"],"Layers":["abc123/layer.tar"]}]""";
        using var file = File.Create(path);
        using var writer = new TarWriter(file, TarEntryFormat.Pax);
        Add(writer, "abc123/", null);
        Add(writer, "abc123/layer.tar", layerTar);
        Add(writer, "abc123/VERSION", "1.0"u8.ToArray());
        Add(writer, configName, config);
        Add(writer, "manifest.json", Encoding.UTF8.GetBytes(manifest));
        Add(writer, "repositories", "{\"x\":{\"latest\":\"abc123\"}}"u8.ToArray());
    }

    /// <summary>An OCI layout tarball with one image; <paramref name="name"/> goes into io.containerd.image.name.</summary>
    public static void OciLayout(string path, byte[] config, IEnumerable<(byte[] Bytes, string MediaType)> layers, string? name, string configType = MediaTypes.OciConfig)
    {
        var layerList = layers.ToList();
        var manifest = ManifestJson(config, layerList, configType);
        var annotations = name is null ? null : new Dictionary<string, string> { ["io.containerd.image.name"] = name, ["org.opencontainers.image.ref.name"] = "latest" };
        var index = JsonSerializer.SerializeToUtf8Bytes(new ImageIndex
        {
            MediaType = MediaTypes.OciIndex,
            Manifests = [new Descriptor { MediaType = MediaTypes.OciManifest, Digest = Digest.Compute(manifest).ToString(), Size = manifest.Length, Annotations = annotations }],
        }, OciJsonContext.Default.ImageIndex);
        using var file = File.Create(path);
        using var writer = new TarWriter(file, TarEntryFormat.Pax);
        Add(writer, "oci-layout", """{"imageLayoutVersion":"1.0.0"}"""u8.ToArray());
        Add(writer, "index.json", index);
        foreach (var blob in new[] { config, manifest }.Concat(layerList.Select(l => l.Bytes)))
        {
            Add(writer, "blobs/sha256/" + Digest.Compute(blob).Hex, blob);
        }
    }

    private static void Add(TarWriter writer, string name, byte[]? content)
    {
        var entry = new PaxTarEntry(content is null ? TarEntryType.Directory : TarEntryType.RegularFile, name);
        if (content is not null)
        {
            entry.DataStream = new MemoryStream(content);
        }
        writer.WriteEntry(entry);
    }
}
