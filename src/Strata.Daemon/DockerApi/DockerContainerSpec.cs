using System.Text.Json;
using Strata.Contracts;

namespace Strata.Daemon.DockerApi;

/// <summary>
/// A Docker container-create body (Config + HostConfig + NetworkingConfig) as a Strata <see cref="InstanceSpec"/>.
/// Every member is either mapped, or accepted because it has its zero value (what clients send for options not
/// used), or refused with a 400 naming it: nothing is silently dropped.
/// </summary>
internal sealed partial class DockerContainerSpec
{
    /// <summary>Label that picks the Strata tier (<c>container</c>, <c>sandbox</c>, <c>vm</c>, <c>auto</c>).</summary>
    public const string TierLabel = "io.strata.tier";

    /// <summary>Runtime names (<c>--runtime</c>) that pick a tier, as Kata does with runtime names.</summary>
    public static readonly IReadOnlyDictionary<string, string> Runtimes = new Dictionary<string, string>
    {
        ["runc"] = "container",
        ["strata-container"] = "container",
        ["strata-sandbox"] = "sandbox",
        ["strata-vm"] = "vm",
        ["strata-auto"] = "auto",
    };

    private readonly DockerVolumes _volumes;
    private readonly string _project;
    private readonly string? _defaultNetwork;
    private readonly Func<string, string> _networkName;
    private readonly List<string> _aliases = [];
    private string? _tier;
    private string? _network;
    private readonly List<MountSpec> _mounts = [];
    private readonly List<TmpfsSpec> _tmpfs = [];
    private readonly HashSet<string> _exposed = new(StringComparer.Ordinal);
    private readonly List<PortSpec> _ports = [];
    private bool _publishAll;
    private InstanceSpec _spec = new();
    private SecuritySpec _security = new();
    private ResourceSpec _resources = new();

    private DockerContainerSpec(DockerVolumes volumes, string project, string? defaultNetwork, Func<string, string> networkName)
    {
        _networkName = networkName;
        _volumes = volumes;
        _project = project;
        _defaultNetwork = defaultNetwork;
    }

    /// <summary>Named volumes the spec mounts that do not exist yet (created, as Docker does, when the container is).</summary>
    public List<string> NewVolumes { get; } = [];

    /// <param name="networkName">The Strata network a Docker network name means.</param>
    public static DockerContainerSpec Parse(JsonElement body, string? name, DockerVolumes volumes, string project, string? defaultNetwork, Func<string, string> networkName)
    {
        if (body.ValueKind != JsonValueKind.Object)
        {
            throw StrataException.Invalid("body", "expected a JSON object (the container's Config with HostConfig)");
        }
        var parsed = new DockerContainerSpec(volumes, project, defaultNetwork, networkName);
        parsed._spec = parsed._spec with { Name = string.IsNullOrEmpty(name) ? null : ToStrataName(name) };
        parsed.ReadConfig(body);
        parsed.Finish();
        return parsed;
    }

    public InstanceSpec Spec => _spec;

    /// <summary><c>HostConfig.ConsoleSize</c>: (rows, columns) of the client's terminal, when it sent one.</summary>
    private (ushort Rows, ushort Columns)? _consoleSize;

    private void ReadConfig(JsonElement body)
    {
        foreach (var member in body.EnumerateObject())
        {
            var v = member.Value;
            switch (member.Name)
            {
                case "Image":
                    _spec = _spec with { Image = String(v, "Image") };
                    break;
                case "Cmd":
                    _spec = _spec with { Args = Strings(v, "Cmd") };
                    break;
                case "Entrypoint":
                    _spec = _spec with { Command = Strings(v, "Entrypoint") };
                    break;
                case "Env":
                    _spec = _spec with { Env = Env(v) };
                    break;
                case "WorkingDir":
                    _spec = _spec with { WorkingDir = NonEmpty(String(v, "WorkingDir")) };
                    break;
                case "User":
                    _security = _security with { User = NonEmpty(String(v, "User")) };
                    break;
                case "Labels":
                    _spec = _spec with { Labels = Labels(v) };
                    break;
                case "ExposedPorts":
                    if (v.ValueKind == JsonValueKind.Object)
                    {
                        foreach (var p in v.EnumerateObject())
                        {
                            _exposed.Add(p.Name);
                        }
                    }
                    break;
                case "NetworkDisabled":
                    if (v.ValueKind == JsonValueKind.True)
                    {
                        SetNetwork("none", "NetworkDisabled");
                    }
                    break;
                case "Volumes":
                    if (v.ValueKind == JsonValueKind.Object)
                    {
                        foreach (var p in v.EnumerateObject())
                        {
                            _exposedVolumes.Add(p.Name);
                        }
                    }
                    break;
                case "HostConfig":
                    if (v.ValueKind == JsonValueKind.Object)
                    {
                        ReadHostConfig(v);
                    }
                    break;
                case "NetworkingConfig":
                    ReadNetworkingConfig(v);
                    break;
                case "Tty":
                    _spec = _spec with { Tty = v.ValueKind == JsonValueKind.True };
                    break;
                case "OpenStdin":
                    _spec = _spec with { Stdin = v.ValueKind == JsonValueKind.True };
                    break;
                case "StdinOnce":
                    // The input ends when the attach that gave it ends (what docker run -i asks for).
                    break;
                case "Hostname":
                    if (NonEmpty(String(v, "Hostname")) is { } hostname && hostname != _spec.Name)
                    {
                        throw Unsupported("Hostname", "a Strata container's hostname is its name; drop --hostname or give the same --name");
                    }
                    break;
                case "Healthcheck":
                    if (!IsZero(v) && !(v.TryGetProperty("Test", out var test) && test.ValueKind == JsonValueKind.Array
                          && test.GetArrayLength() == 1 && test[0].GetString() == "NONE"))
                    {
                        throw Unsupported("Healthcheck", "Strata runs no health checks; drop --health-cmd (or use --no-healthcheck)");
                    }
                    break;
                case "StopSignal":
                    if (NonEmpty(String(v, "StopSignal")) is { } signal && signal is not ("SIGTERM" or "TERM" or "15"))
                    {
                        throw Unsupported("StopSignal", "Strata stops a container with SIGTERM, then SIGKILL after the timeout; drop --stop-signal");
                    }
                    break;
                // Only what the client attaches to, the builder or Windows read these: they change nothing here.
                case "AttachStdin" or "AttachStdout" or "AttachStderr" or "ArgsEscaped":
                    break;
                default:
                    RefuseUnlessZero(member.Name, v);
                    break;
            }
        }
    }

    private readonly HashSet<string> _exposedVolumes = new(StringComparer.Ordinal);

    private void ReadHostConfig(JsonElement host)
    {
        foreach (var member in host.EnumerateObject())
        {
            var v = member.Value;
            var field = "HostConfig." + member.Name;
            switch (member.Name)
            {
                case "Binds":
                    foreach (var bind in Strings(v, field) ?? [])
                    {
                        _mounts.Add(ParseBind(bind, field));
                    }
                    break;
                case "Mounts":
                    ReadMounts(v, field);
                    break;
                case "NetworkMode":
                    if (NonEmpty(String(v, field)) is { } mode)
                    {
                        SetNetwork(mode, field);
                    }
                    break;
                case "PortBindings":
                    ReadPortBindings(v, field);
                    break;
                case "PublishAllPorts":
                    _publishAll = v.ValueKind == JsonValueKind.True;
                    break;
                case "RestartPolicy":
                    _spec = _spec with { Restart = RestartPolicy(v, field) };
                    break;
                case "AutoRemove":
                    _spec = _spec with { AutoRemove = v.ValueKind == JsonValueKind.True };
                    break;
                case "ReadonlyRootfs":
                    _security = _security with { ReadOnlyRootfs = v.ValueKind == JsonValueKind.True };
                    break;
                case "CapAdd":
                    _security = _security with { CapAdd = Strings(v, field) };
                    break;
                case "CapDrop":
                    _security = _security with { CapDrop = Strings(v, field) };
                    break;
                case "Devices":
                    ReadDevices(v, field);
                    break;
                case "Memory":
                    _resources = _resources with { MemoryBytes = Positive(v, field) };
                    break;
                case "MemorySwap":
                    RefuseSwapBeyondMemory(host, v, field);
                    break;
                case "NanoCpus":
                    if (Positive(v, field) is { } nano)
                    {
                        _resources = _resources with { Cpus = nano / 1e9 };
                    }
                    break;
                case "CpuQuota":
                    if (Positive(v, field) is { } quota)
                    {
                        var period = LongMember(host, "CpuPeriod") is > 0 and var p ? p : 100_000;
                        _resources = _resources with { Cpus = (double)quota / period };
                    }
                    break;
                case "CpuPeriod":
                    break; // read with CpuQuota
                case "PidsLimit":
                    if (Number(v, field) is > 0 and var pids)
                    {
                        _resources = _resources with { Pids = pids };
                    }
                    break;
                case "CpusetCpus":
                    _resources = _resources with { Cpuset = NonEmpty(String(v, field)) };
                    break;
                case "Runtime":
                    if (NonEmpty(String(v, field)) is { } runtime)
                    {
                        if (!Runtimes.TryGetValue(runtime, out var tier))
                        {
                            throw StrataException.Invalid(field, $"unknown runtime '{runtime}'; Strata's runtimes are {string.Join(", ", Runtimes.Keys)}");
                        }
                        SetTier(tier, field);
                    }
                    break;
                case "LogConfig":
                    if (v.ValueKind == JsonValueKind.Object && v.TryGetProperty("Type", out var type)
                        && NonEmpty(type.GetString()) is { } driver && driver is not ("json-file" or "local" or "k8s-file"))
                    {
                        throw Unsupported(field, $"Strata keeps each container's output in its own log files (read them with 'docker logs'); the '{driver}' log driver is not available");
                    }
                    break;
                case "IpcMode" or "CgroupnsMode":
                    if (NonEmpty(String(v, field)) is { } ns && ns is not ("private" or "shareable"))
                    {
                        throw Unsupported(field, $"'{ns}': a Strata container always has namespaces of its own");
                    }
                    break;
                case "Isolation":
                    if (NonEmpty(String(v, field)) is { } isolation && isolation != "default")
                    {
                        throw Unsupported(field, "isolation is chosen with --runtime strata-sandbox / strata-vm (or the label io.strata.tier)");
                    }
                    break;
                case "ConsoleSize":
                    // [height, width] of the client's terminal, sent with -t: the initial size of the container's.
                    if (v.ValueKind == JsonValueKind.Array && v.GetArrayLength() == 2
                        && v[0].TryGetUInt16(out var height) && v[1].TryGetUInt16(out var width) && height > 0 && width > 0)
                    {
                        _consoleSize = (height, width);
                    }
                    break;
                case "ContainerIDFile" or "VolumeDriver":
                    break; // the client's own business, or the default local driver
                case "Privileged":
                    if (v.ValueKind == JsonValueKind.True)
                    {
                        throw Unsupported(field, "Strata does not run privileged containers; add the capabilities the workload needs with --cap-add, devices with --device");
                    }
                    break;
                case "MemorySwappiness":
                    if (Number(v, field) is { } swappiness and not -1)
                    {
                        RefuseUnlessZero(field, v, $"{swappiness}: Strata leaves swappiness to the host; drop --memory-swappiness");
                    }
                    break;
                case "Tmpfs":
                    ReadTmpfs(v, field);
                    break;
                default:
                    RefuseUnlessZero(field, v);
                    break;
            }
        }
    }

    private void Finish()
    {
        if (_consoleSize is var (rows, columns) && _spec.Tty)
        {
            // The size the client's terminal has (API 1.42+): the container's terminal has it from its first moment.
            _spec = _spec with { TerminalSize = new TerminalSize { Columns = columns, Rows = rows } };
        }
        var labels = _spec.Labels is null ? new Dictionary<string, string>() : new Dictionary<string, string>(_spec.Labels);
        if (labels.TryGetValue(TierLabel, out var labelled))
        {
            if (labelled is not ("container" or "sandbox" or "vm" or "auto"))
            {
                throw StrataException.Invalid($"Labels.{TierLabel}", $"'{labelled}' is not a tier for Docker containers; use container, sandbox, vm or auto");
            }
            SetTier(labelled, $"Labels.{TierLabel}");
        }
        if (string.IsNullOrEmpty(_spec.Image))
        {
            throw StrataException.Invalid("Image", "no image given; name the image to run, e.g. busybox");
        }
        foreach (var volume in _exposedVolumes)
        {
            if (!_mounts.Any(m => m.Target == volume))
            {
                throw Unsupported($"Volumes.{volume}", "anonymous volumes are not supported; mount a named volume there (-v NAME:" + volume + ")");
            }
        }
        if (_publishAll)
        {
            foreach (var exposed in _exposed)
            {
                var (port, protocol) = ParsePortKey(exposed, "ExposedPorts");
                if (!_ports.Any(p => p.ContainerPort == port && p.ProtocolName == protocol))
                {
                    _ports.Add(new PortSpec { HostPort = FreePort(protocol), ContainerPort = port, Protocol = protocol });
                }
            }
        }
        var network = _network ?? (_ports.Count > 0 || _defaultNetwork is not null ? _defaultNetwork : null);
        _spec = _spec with
        {
            Tier = _tier ?? "container",
            Network = network,
            Ports = _ports.Count > 0 ? _ports : null,
            NetworkAliases = _aliases.Where(a => a != _spec.Name).Distinct().ToList() is { Count: > 0 } aliases ? aliases : null,
            Mounts = _mounts.Count > 0 ? _mounts : null,
            Tmpfs = _tmpfs.Count > 0 ? _tmpfs : null,
            Security = _security == new SecuritySpec() ? null : _security,
            Resources = _resources == new ResourceSpec() ? null : _resources,
            Labels = labels.Count > 0 ? labels : null,
        };
    }

    private void SetTier(string tier, string field)
    {
        if (_tier is not null && _tier != tier)
        {
            throw StrataException.Invalid(field, $"asks for the {tier} tier, but another setting asked for {_tier}; give one of --runtime and the label {TierLabel}");
        }
        _tier = tier;
    }

    private void ReadDevices(JsonElement v, string field)
    {
        if (v.ValueKind != JsonValueKind.Array)
        {
            RefuseUnlessZero(field, v);
            return;
        }
        var devices = new List<string>();
        foreach (var d in v.EnumerateArray())
        {
            var host = d.TryGetProperty("PathOnHost", out var h) ? h.GetString() ?? "" : "";
            var container = d.TryGetProperty("PathInContainer", out var c) ? NonEmpty(c.GetString()) ?? host : host;
            devices.Add(host == container ? host : $"{host}:{container}");
        }
        _security = _security with { Devices = devices.Count > 0 ? devices : null };
    }

    private static string? RestartPolicy(JsonElement v, string field)
    {
        if (v.ValueKind != JsonValueKind.Object)
        {
            return null;
        }
        var name = v.TryGetProperty("Name", out var n) ? NonEmpty(n.GetString()) : null;
        var retries = v.TryGetProperty("MaximumRetryCount", out var r) && r.TryGetInt32(out var count) ? count : 0;
        return name switch
        {
            null or "no" => null,
            "always" or "unless-stopped" => "always",
            "on-failure" => retries > 0 ? $"on-failure:{retries}" : "on-failure",
            _ => throw StrataException.Invalid($"{field}.Name", $"'{name}' is not a restart policy; use no, always, unless-stopped or on-failure"),
        };
    }

    /// <summary>
    /// A Docker name as a Strata name: Strata's names are DNS labels, so '_' (Compose's <c>app_web_1</c>) becomes
    /// '-'; anything else invalid is refused by Strata's validation, naming the field.
    /// </summary>
    public static string ToStrataName(string name) => name.TrimStart('/').Replace('_', '-');
}
