using System.Text.Json;
using System.Text.Json.Serialization;

namespace Strata.Daemon.DockerApi;

// The shapes of the Docker Engine API that Strata answers with (PascalCase members, as Docker names them).
// Requests with many optional fields (container create) are read member by member in DockerContainerSpec so
// that every field is either mapped or refused; the small ones are records here.

public sealed record DockerError(string Message)
{
    [JsonPropertyName("message")] public string Message { get; init; } = Message;
}

public sealed record DockerVersion
{
    public required string Version { get; init; }
    public required string ApiVersion { get; init; }
    public required string MinAPIVersion { get; init; }
    public string GitCommit { get; init; } = "strata";
    public string GoVersion { get; init; } = "n/a";
    public string Os { get; init; } = "linux";
    public required string Arch { get; init; }
    public required string KernelVersion { get; init; }
    public string BuildTime { get; init; } = "";
    public IReadOnlyList<DockerComponent> Components { get; init; } = [];
    public DockerPlatform Platform { get; init; } = new("Strata");
}

public sealed record DockerPlatform(string Name);

public sealed record DockerComponent(string Name, string Version);

public sealed record DockerInfo
{
    public required string ID { get; init; }
    public int Containers { get; init; }
    public int ContainersRunning { get; init; }
    public int ContainersPaused { get; init; }
    public int ContainersStopped { get; init; }
    public int Images { get; init; }
    public string Driver { get; init; } = "overlay";
    public required string DockerRootDir { get; init; }
    public bool MemoryLimit { get; init; } = true;
    public bool CpuCfsQuota { get; init; } = true;
    public bool PidsLimit { get; init; } = true;
    public string CgroupDriver { get; init; } = "cgroupfs";
    public string CgroupVersion { get; init; } = "2";
    public int NCPU { get; init; }
    public long MemTotal { get; init; }
    public required string Name { get; init; }
    public required string ServerVersion { get; init; }
    public required string KernelVersion { get; init; }
    public required string OperatingSystem { get; init; }
    public string OSType { get; init; } = "linux";
    public required string Architecture { get; init; }
    public string IndexServerAddress { get; init; } = "";
    public required Dictionary<string, DockerRuntime> Runtimes { get; init; }
    public string DefaultRuntime { get; init; } = "runc";
    public IReadOnlyList<string> Labels { get; init; } = [];
    public IReadOnlyList<string> SecurityOptions { get; init; } = [];
    public IReadOnlyList<string> Warnings { get; init; } = [];
}

public sealed record DockerRuntime(string Path);

public sealed record DockerEvent
{
    public required string Type { get; init; }
    public required string Action { get; init; }
    public required DockerEventActor Actor { get; init; }
    public string Scope { get; init; } = "local";
    [JsonPropertyName("status")] public required string Status { get; init; }
    [JsonPropertyName("id")] public required string Id { get; init; }
    [JsonPropertyName("from")] public string? From { get; init; }
    [JsonPropertyName("time")] public long Time { get; init; }
    [JsonPropertyName("timeNano")] public long TimeNano { get; init; }
}

public sealed record DockerEventActor(string ID, Dictionary<string, string> Attributes);

public sealed record DockerCreated(string Id, IReadOnlyList<string> Warnings);

/// <summary>The answer to <c>POST /containers/{id}/update</c>.</summary>
public sealed record DockerUpdated(IReadOnlyList<string> Warnings);

public sealed record DockerWaitResponse(int StatusCode, DockerWaitError? Error);

public sealed record DockerWaitError(string Message);

public sealed record DockerPort
{
    public string? IP { get; init; }
    public int PrivatePort { get; init; }
    public int? PublicPort { get; init; }
    public required string Type { get; init; }
}

public sealed record DockerContainerSummary
{
    public required string Id { get; init; }
    public required IReadOnlyList<string> Names { get; init; }
    public required string Image { get; init; }
    public required string ImageID { get; init; }
    public required string Command { get; init; }
    public long Created { get; init; }
    public required IReadOnlyList<DockerPort> Ports { get; init; }
    public required Dictionary<string, string> Labels { get; init; }
    public required string State { get; init; }
    public required string Status { get; init; }
    public required Dictionary<string, string> HostConfig { get; init; }
    public required DockerNetworkSettingsSummary NetworkSettings { get; init; }
    public IReadOnlyList<DockerMountPoint> Mounts { get; init; } = [];
}

public sealed record DockerNetworkSettingsSummary(Dictionary<string, DockerEndpoint> Networks);

public sealed record DockerEndpoint
{
    public IReadOnlyList<string>? Aliases { get; init; }
    public string NetworkID { get; init; } = "";
    public string EndpointID { get; init; } = "";
    public string Gateway { get; init; } = "";
    public string IPAddress { get; init; } = "";
    public int IPPrefixLen { get; init; }
    public string MacAddress { get; init; } = "";
}

public sealed record DockerMountPoint
{
    public required string Type { get; init; }
    public string? Name { get; init; }
    public required string Source { get; init; }
    public required string Destination { get; init; }
    public string Mode { get; init; } = "";
    public bool RW { get; init; }
    public string Propagation { get; init; } = "";
}

public sealed record DockerContainerState
{
    public required string Status { get; init; }
    public bool Running { get; init; }
    public bool Paused { get; init; }
    public bool Restarting { get; init; }
    public bool OOMKilled { get; init; }
    public bool Dead { get; init; }
    public int Pid { get; init; }
    public int ExitCode { get; init; }
    public string Error { get; init; } = "";
    public required string StartedAt { get; init; }
    public required string FinishedAt { get; init; }
}

public sealed record DockerPortBinding(string HostIp, string HostPort);

public sealed record DockerRestartPolicy(string Name, int MaximumRetryCount);

public sealed record DockerHostConfigView
{
    public required string NetworkMode { get; init; }
    public required Dictionary<string, IReadOnlyList<DockerPortBinding>> PortBindings { get; init; }
    public required DockerRestartPolicy RestartPolicy { get; init; }
    public bool AutoRemove { get; init; }
    public bool ReadonlyRootfs { get; init; }
    public IReadOnlyList<string>? CapAdd { get; init; }
    public IReadOnlyList<string>? CapDrop { get; init; }
    public IReadOnlyList<string>? Binds { get; init; }
    public long Memory { get; init; }
    public long NanoCpus { get; init; }
    public long? PidsLimit { get; init; }
    public string CpusetCpus { get; init; } = "";
    public required string Runtime { get; init; }
    public DockerLogConfig LogConfig { get; init; } = new("json-file", []);
}

public sealed record DockerLogConfig(string Type, Dictionary<string, string> Config);

public sealed record DockerContainerConfigView
{
    public required string Hostname { get; init; }
    public string User { get; init; } = "";
    public bool AttachStdin { get; init; }
    public bool AttachStdout { get; init; }
    public bool AttachStderr { get; init; }
    public Dictionary<string, JsonElement>? ExposedPorts { get; init; }
    public bool Tty { get; init; }
    public bool OpenStdin { get; init; }
    public bool StdinOnce { get; init; }
    public required IReadOnlyList<string> Env { get; init; }
    public IReadOnlyList<string>? Cmd { get; init; }
    public required string Image { get; init; }
    public string WorkingDir { get; init; } = "";
    public IReadOnlyList<string>? Entrypoint { get; init; }
    public required Dictionary<string, string> Labels { get; init; }
}

public sealed record DockerNetworkSettings
{
    public required Dictionary<string, IReadOnlyList<DockerPortBinding>?> Ports { get; init; }
    public required Dictionary<string, DockerEndpoint> Networks { get; init; }
    public string IPAddress { get; init; } = "";
    public string Gateway { get; init; } = "";
    public int IPPrefixLen { get; init; }
    public string Bridge { get; init; } = "";
    public string SandboxKey { get; init; } = "";
}

public sealed record DockerContainerInspect
{
    public required string Id { get; init; }
    public required string Created { get; init; }
    public required string Path { get; init; }
    public required IReadOnlyList<string> Args { get; init; }
    public required DockerContainerState State { get; init; }
    public required string Image { get; init; }
    public required string Name { get; init; }
    public int RestartCount { get; init; }
    public string Driver { get; init; } = "overlay";
    public string Platform { get; init; } = "linux";
    public string LogPath { get; init; } = "";
    public required DockerHostConfigView HostConfig { get; init; }
    public required DockerContainerConfigView Config { get; init; }
    public required DockerNetworkSettings NetworkSettings { get; init; }
    public IReadOnlyList<DockerMountPoint> Mounts { get; init; } = [];
}

public sealed record DockerTop(IReadOnlyList<string> Titles, IReadOnlyList<IReadOnlyList<string>> Processes);

public sealed record DockerExecCreated(string Id);

public sealed record DockerExecStart
{
    public bool Detach { get; init; }
    public bool Tty { get; init; }
    public IReadOnlyList<int>? ConsoleSize { get; init; }
}

public sealed record DockerExecProcessConfig
{
    [JsonPropertyName("entrypoint")] public required string Entrypoint { get; init; }
    [JsonPropertyName("arguments")] public required IReadOnlyList<string> Arguments { get; init; }
    [JsonPropertyName("tty")] public bool Tty { get; init; }
    [JsonPropertyName("privileged")] public bool Privileged { get; init; }
    [JsonPropertyName("user")] public string User { get; init; } = "";
}

public sealed record DockerExecInspect
{
    public required string ID { get; init; }
    public bool Running { get; init; }
    public int? ExitCode { get; init; }
    public required DockerExecProcessConfig ProcessConfig { get; init; }
    public bool OpenStdin { get; init; }
    public bool OpenStdout { get; init; }
    public bool OpenStderr { get; init; }
    public required string ContainerID { get; init; }
    public int Pid { get; init; }
    public bool CanRemove { get; init; }
    public string DetachKeys { get; init; } = "";
}

public sealed record DockerImageSummary
{
    public required string Id { get; init; }
    public string ParentId { get; init; } = "";
    public required IReadOnlyList<string> RepoTags { get; init; }
    public required IReadOnlyList<string> RepoDigests { get; init; }
    public long Created { get; init; }
    public long Size { get; init; }
    public long SharedSize { get; init; } = -1;
    public long VirtualSize { get; init; }
    public Dictionary<string, string> Labels { get; init; } = [];
    public int Containers { get; init; } = -1;
}

public sealed record DockerImageConfig
{
    public IReadOnlyList<string>? Entrypoint { get; init; }
    public IReadOnlyList<string>? Cmd { get; init; }
    public IReadOnlyList<string> Env { get; init; } = [];
    public string WorkingDir { get; init; } = "";
    public string User { get; init; } = "";
    public Dictionary<string, JsonElement>? ExposedPorts { get; init; }
    public Dictionary<string, string> Labels { get; init; } = [];
}

public sealed record DockerImageInspect
{
    public required string Id { get; init; }
    public required IReadOnlyList<string> RepoTags { get; init; }
    public required IReadOnlyList<string> RepoDigests { get; init; }
    public string Parent { get; init; } = "";
    public string Comment { get; init; } = "";
    public required string Created { get; init; }
    public required string Os { get; init; }
    public required string Architecture { get; init; }
    public long Size { get; init; }
    public long VirtualSize { get; init; }
    public required DockerImageConfig Config { get; init; }
    public required DockerRootFs RootFS { get; init; }
}

public sealed record DockerRootFs(string Type, IReadOnlyList<string> Layers);

public sealed record DockerImageDeleted
{
    public string? Untagged { get; init; }
    public string? Deleted { get; init; }
}

public sealed record DockerProgress
{
    [JsonPropertyName("status")] public string? Status { get; init; }
    [JsonPropertyName("id")] public string? Id { get; init; }
    [JsonPropertyName("progress")] public string? Progress { get; init; }
    [JsonPropertyName("progressDetail")] public DockerProgressDetail? ProgressDetail { get; init; }
    [JsonPropertyName("error")] public string? Error { get; init; }
    [JsonPropertyName("errorDetail")] public DockerError? ErrorDetail { get; init; }
}

public sealed record DockerProgressDetail
{
    [JsonPropertyName("current")] public long? Current { get; init; }
    [JsonPropertyName("total")] public long? Total { get; init; }
}

public sealed record DockerNetworkCreate
{
    public string Name { get; init; } = "";
    public string? Driver { get; init; }
    public bool Internal { get; init; }
    public bool CheckDuplicate { get; init; }
    public bool Attachable { get; init; }
    public bool EnableIPv6 { get; init; }
    public bool? EnableIPv4 { get; init; }
    public bool Ingress { get; init; }
    public string? Scope { get; init; }
    public DockerIpam? IPAM { get; init; }
    public Dictionary<string, string>? Options { get; init; }
    public Dictionary<string, string>? Labels { get; init; }
    public JsonElement? ConfigFrom { get; init; }
    public bool ConfigOnly { get; init; }
}

public sealed record DockerIpam
{
    public string? Driver { get; init; }
    public IReadOnlyList<DockerIpamConfig>? Config { get; init; }
    public Dictionary<string, string>? Options { get; init; }
}

public sealed record DockerIpamConfig
{
    public string? Subnet { get; init; }
    public string? Gateway { get; init; }
    public string? IPRange { get; init; }
    public Dictionary<string, string>? AuxiliaryAddresses { get; init; }
}

public sealed record DockerNetworkCreated(string Id, string Warning);

public sealed record DockerNetwork
{
    public required string Name { get; init; }
    public required string Id { get; init; }
    public required string Created { get; init; }
    public string Scope { get; init; } = "local";
    public string Driver { get; init; } = "bridge";
    public bool EnableIPv6 { get; init; }
    public required DockerIpam IPAM { get; init; }
    public bool Internal { get; init; }
    public bool Attachable { get; init; }
    public bool Ingress { get; init; }
    public required Dictionary<string, DockerNetworkMember> Containers { get; init; }
    public Dictionary<string, string> Options { get; init; } = [];
    public Dictionary<string, string> Labels { get; init; } = [];
}

public sealed record DockerNetworkMember
{
    public required string Name { get; init; }
    public string EndpointID { get; init; } = "";
    public string MacAddress { get; init; } = "";
    public required string IPv4Address { get; init; }
    public string IPv6Address { get; init; } = "";
}

public sealed record DockerNetworkConnect
{
    public string Container { get; init; } = "";
    public JsonElement? EndpointConfig { get; init; }
    public bool Force { get; init; }
}

public sealed record DockerVolumeCreate
{
    public string? Name { get; init; }
    public string? Driver { get; init; }
    public Dictionary<string, string>? DriverOpts { get; init; }
    public Dictionary<string, string>? Labels { get; init; }
    public JsonElement? ClusterVolumeSpec { get; init; }
}

public sealed record DockerVolume
{
    public required string Name { get; init; }
    public string Driver { get; init; } = "local";
    public required string Mountpoint { get; init; }
    public required string CreatedAt { get; init; }
    public Dictionary<string, string> Labels { get; init; } = [];
    public string Scope { get; init; } = "local";
    public Dictionary<string, string> Options { get; init; } = [];
}

public sealed record DockerVolumeList(IReadOnlyList<DockerVolume> Volumes, IReadOnlyList<string> Warnings);

public sealed record DockerStats
{
    [JsonPropertyName("read")] public required string Read { get; init; }
    [JsonPropertyName("preread")] public required string PreRead { get; init; }
    [JsonPropertyName("name")] public required string Name { get; init; }
    [JsonPropertyName("id")] public required string Id { get; init; }
    [JsonPropertyName("pids_stats")] public required DockerPidsStats PidsStats { get; init; }
    [JsonPropertyName("cpu_stats")] public required DockerCpuStats CpuStats { get; init; }
    [JsonPropertyName("precpu_stats")] public required DockerCpuStats PreCpuStats { get; init; }
    [JsonPropertyName("memory_stats")] public required DockerMemoryStats MemoryStats { get; init; }
}

public sealed record DockerPidsStats
{
    [JsonPropertyName("current")] public long Current { get; init; }
    [JsonPropertyName("limit")] public long? Limit { get; init; }
}

public sealed record DockerCpuStats
{
    [JsonPropertyName("cpu_usage")] public required DockerCpuUsage CpuUsage { get; init; }
    [JsonPropertyName("system_cpu_usage")] public long SystemCpuUsage { get; init; }
    [JsonPropertyName("online_cpus")] public int OnlineCpus { get; init; }
}

public sealed record DockerCpuUsage
{
    [JsonPropertyName("total_usage")] public long TotalUsage { get; init; }
}

public sealed record DockerMemoryStats
{
    [JsonPropertyName("usage")] public long Usage { get; init; }
    [JsonPropertyName("limit")] public long Limit { get; init; }
}

public sealed record DockerRename(string Name);
