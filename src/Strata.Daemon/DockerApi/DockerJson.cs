using System.Text.Json;
using System.Text.Json.Serialization;

namespace Strata.Daemon.DockerApi;

/// <summary>
/// JSON of the Docker Engine API: members as declared (PascalCase, Docker's spelling), nulls omitted.
/// Source-generated like <see cref="Strata.Contracts.StrataJsonContext"/>.
/// </summary>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, PropertyNameCaseInsensitive = true)]
[JsonSerializable(typeof(DockerError))]
[JsonSerializable(typeof(DockerVersion))]
[JsonSerializable(typeof(DockerInfo))]
[JsonSerializable(typeof(DockerEvent))]
[JsonSerializable(typeof(DockerCreated))]
[JsonSerializable(typeof(DockerUpdated))]
[JsonSerializable(typeof(DockerWaitResponse))]
[JsonSerializable(typeof(List<DockerContainerSummary>))]
[JsonSerializable(typeof(DockerContainerInspect))]
[JsonSerializable(typeof(DockerTop))]
[JsonSerializable(typeof(DockerExecCreated))]
[JsonSerializable(typeof(DockerExecStart))]
[JsonSerializable(typeof(DockerExecInspect))]
[JsonSerializable(typeof(List<DockerImageSummary>))]
[JsonSerializable(typeof(DockerImageInspect))]
[JsonSerializable(typeof(List<DockerImageDeleted>))]
[JsonSerializable(typeof(DockerProgress))]
[JsonSerializable(typeof(DockerNetworkCreate))]
[JsonSerializable(typeof(DockerNetworkCreated))]
[JsonSerializable(typeof(DockerNetwork))]
[JsonSerializable(typeof(List<DockerNetwork>))]
[JsonSerializable(typeof(DockerNetworkConnect))]
[JsonSerializable(typeof(DockerVolumeCreate))]
[JsonSerializable(typeof(DockerVolume))]
[JsonSerializable(typeof(DockerVolumeList))]
[JsonSerializable(typeof(DockerStats))]
[JsonSerializable(typeof(DockerMountPoint))]
[JsonSerializable(typeof(JsonElement))]
[JsonSerializable(typeof(Dictionary<string, string>))]
[JsonSerializable(typeof(Dictionary<string, DockerNetworkMeta>))]
[JsonSerializable(typeof(Dictionary<string, List<string>>))]
internal sealed partial class DockerJsonContext : JsonSerializerContext;
