using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Strata.Contracts;
using Strata.Control;
using Strata.Node.Networking;
using Strata.Store;

namespace Strata.Daemon.DockerApi;

/// <summary>
/// A Strata instance seen as a Docker container: its 64-hex ID (derived from the instance ID), how a name, ID or
/// ID prefix finds it, its state, and its list and inspect views.
/// </summary>
internal static class DockerContainers
{
    public static string IdOf(InstanceRecord r) => IdOf(r.Id);

    public static string IdOf(string instanceId) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("strata-instance:" + instanceId)));

    /// <summary>Finds a container by name, full ID or unique ID prefix, as Docker does; 404 otherwise (other projects' too).</summary>
    public static InstanceRecord Resolve(InstanceService service, string project, string reference)
    {
        var key = reference.TrimStart('/');
        var all = service.List(project).Where(r => r.State != InstanceState.Deleted).ToList();
        if (all.FirstOrDefault(r => r.Name == key || r.Name == DockerContainerSpec.ToStrataName(key)) is { } byName)
        {
            return byName;
        }
        if (key.Length > 0 && key.All(char.IsAsciiHexDigitLower))
        {
            var matches = all.Where(r => IdOf(r).StartsWith(key, StringComparison.Ordinal)).ToList();
            if (matches.Count == 1)
            {
                return matches[0];
            }
            if (matches.Count > 1)
            {
                throw StrataException.Invalid("id", $"multiple IDs found with provided prefix: {key}");
            }
        }
        throw StrataException.NotFound($"No such container: {reference}");
    }

    public static string State(InstanceRecord r) => r.State switch
    {
        InstanceState.Running or InstanceState.Stopping => "running",
        InstanceState.Stopped or InstanceState.Exited or InstanceState.Failed => "exited",
        InstanceState.Deleted => "removing",
        _ => "created",
    };

    /// <summary>The exit code Docker reports: the process's own, or 128 + the signal that ended it.</summary>
    public static int ExitCode(InstanceRecord r)
    {
        if (r.ExitCode is { } code)
        {
            return code;
        }
        if (r.Reason is { } reason && reason.StartsWith("signal: ", StringComparison.Ordinal))
        {
            return 128 + Signals.Number(reason["signal: ".Length..]);
        }
        return r.State.IsFinished() && r.Reason is not null ? 1 : 0;
    }

    public static string Status(InstanceRecord r, DateTimeOffset now) => State(r) switch
    {
        "running" => $"Up {Ago(now - (r.StartedAt ?? r.CreatedAt))}",
        "exited" => $"Exited ({ExitCode(r)}) {Ago(now - (r.FinishedAt ?? r.CreatedAt))} ago",
        "removing" => "Removal In Progress",
        _ => "Created",
    };

    private static string Ago(TimeSpan t) => t.TotalSeconds switch
    {
        < 1 => "Less than a second",
        < 60 => $"{(int)t.TotalSeconds} seconds",
        < 3600 => $"{(int)t.TotalMinutes} minutes",
        < 86400 => $"{(int)t.TotalHours} hours",
        _ => $"{(int)t.TotalDays} days",
    };

    public static string Time(DateTimeOffset? t) =>
        t is { } v ? v.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture) : "0001-01-01T00:00:00Z";

    public static string Runtime(InstanceRecord r) => r.Tier switch
    {
        Tier.Sandbox => "strata-sandbox",
        Tier.Vm => "strata-vm",
        _ => "runc",
    };

    private static string NetworkMode(InstanceRecord r, NetworkRegistry networks, DockerNetworkNames names) => r.Spec.Network switch
    {
        null or "none" => "none",
        "host" => "host",
        var n when n == networks.DefaultNetwork => "bridge",
        var n => names.ToDocker(r.Project, n),
    };

    private static Dictionary<string, DockerEndpoint> Endpoints(InstanceRecord r, NetworkRegistry networks, DockerNetworkNames names)
    {
        var result = new Dictionary<string, DockerEndpoint>(StringComparer.Ordinal);
        var mode = NetworkMode(r, networks, names);
        if (mode is "none" or "host")
        {
            result[mode] = new DockerEndpoint { NetworkID = DockerNetworkEndpoints.IdOf(mode) };
            return result;
        }
        var attachment = r.State.IsActive() ? networks.Attachment(r.Id) : null;
        string gateway = "";
        int prefix = 0;
        try
        {
            var info = networks.Get(r.Spec.Network!, r.Project);
            gateway = info.Gateway;
            prefix = int.Parse(info.Subnet.Split('/')[1], CultureInfo.InvariantCulture);
        }
        catch (StrataException)
        {
        }
        result[mode] = new DockerEndpoint
        {
            Aliases = [r.Name, .. r.Spec.NetworkAliases ?? [], IdOf(r)[..12]],
            NetworkID = DockerNetworkEndpoints.IdOf(mode),
            EndpointID = attachment is null ? "" : IdOf(r) + "-ep",
            Gateway = attachment is null ? "" : gateway,
            IPAddress = attachment?.Address ?? "",
            IPPrefixLen = attachment is null ? 0 : prefix,
        };
        // Networks joined after create (docker network connect): their addresses whatever the state, as the
        // interface stays in the container's namespace until it leaves or is removed.
        foreach (var c in networks.Connections(r.Id))
        {
            var name = c.Network == networks.DefaultNetwork ? "bridge" : names.ToDocker(r.Project, c.Network);
            var info = networks.List(r.Project).FirstOrDefault(n => n.Name == c.Network);
            result[name] = new DockerEndpoint
            {
                Aliases = [r.Name, .. c.Aliases, IdOf(r)[..12]],
                NetworkID = DockerNetworkEndpoints.IdOf(name),
                EndpointID = IdOf(r) + "-" + c.Interface,
                Gateway = info?.Gateway ?? "",
                IPAddress = c.Address,
                IPPrefixLen = info is null ? 0 : int.Parse(info.Subnet.Split('/')[1], CultureInfo.InvariantCulture),
            };
        }
        return result;
    }

    private static IEnumerable<DockerPort> Ports(InstanceRecord r) =>
        (r.Spec.Ports ?? []).Select(p => new DockerPort { IP = p.HostIp ?? "0.0.0.0", PrivatePort = p.ContainerPort, PublicPort = p.HostPort, Type = p.ProtocolName });

    private static List<DockerMountPoint> Mounts(InstanceRecord r, string volumesRoot) =>
        [.. (r.Spec.Mounts ?? []).Select(m =>
        {
            var volume = m.Source.StartsWith(volumesRoot, StringComparison.Ordinal) ? Path.GetFileName(Path.GetDirectoryName(m.Source)) : null;
            return new DockerMountPoint
            {
                Type = volume is null ? "bind" : "volume",
                Name = volume,
                Source = m.Source,
                Destination = m.Target,
                Mode = m.ReadOnly ? "ro" : "",
                RW = !m.ReadOnly,
                Propagation = volume is null ? "rprivate" : "",
            };
        })];

    public static DockerContainerSummary Summary(InstanceRecord r, NetworkRegistry networks, Strata.Images.ImageStore images, string volumesRoot, DockerNetworkNames names, DateTimeOffset now) => new()
    {
        Id = IdOf(r),
        Names = ["/" + r.Name],
        Image = r.Spec.Image ?? "",
        ImageID = DockerImageEndpoints.ImageIdOf(images, r.Spec.Image),
        Command = string.Join(' ', (r.Spec.Command ?? []).Concat(r.Spec.Args ?? [])),
        Created = r.CreatedAt.ToUnixTimeSeconds(),
        Ports = [.. Ports(r)],
        Labels = new Dictionary<string, string>(r.Spec.Labels ?? new Dictionary<string, string>()),
        State = State(r),
        Status = Status(r, now),
        HostConfig = new Dictionary<string, string> { ["NetworkMode"] = NetworkMode(r, networks, names) },
        NetworkSettings = new DockerNetworkSettingsSummary(Endpoints(r, networks, names)),
        Mounts = Mounts(r, volumesRoot),
    };

    public static DockerContainerInspect Inspect(InstanceRecord r, NetworkRegistry networks, Strata.Images.ImageStore images, string volumesRoot, DockerNetworkNames names)
    {
        var argv = (r.Spec.Command ?? []).Concat(r.Spec.Args ?? []).ToList();
        var bindings = new Dictionary<string, IReadOnlyList<DockerPortBinding>>(StringComparer.Ordinal);
        foreach (var group in (r.Spec.Ports ?? []).GroupBy(p => $"{p.ContainerPort.ToString(CultureInfo.InvariantCulture)}/{p.ProtocolName}"))
        {
            bindings[group.Key] = [.. group.Select(p => new DockerPortBinding(p.HostIp ?? "0.0.0.0", p.HostPort.ToString(CultureInfo.InvariantCulture)))];
        }
        var exposed = bindings.Keys.ToDictionary(k => k, _ => JsonDocument.Parse("{}").RootElement.Clone(), StringComparer.Ordinal);
        var restart = RestartPolicy.TryParse(r.Spec.Restart, out var policy) ? policy : Contracts.RestartPolicy.No;
        var mounts = Mounts(r, volumesRoot);
        var endpoints = Endpoints(r, networks, names);
        var first = endpoints.Values.First();
        return new DockerContainerInspect
        {
            Id = IdOf(r),
            Created = Time(r.CreatedAt),
            Path = argv.FirstOrDefault() ?? "",
            Args = [.. argv.Skip(1)],
            State = new DockerContainerState
            {
                Status = State(r),
                Running = r.State.IsActive(),
                OOMKilled = r.Reason?.Contains("oom", StringComparison.OrdinalIgnoreCase) == true,
                Pid = r.State.IsActive() ? r.Handle?.Pid ?? 0 : 0,
                ExitCode = ExitCode(r),
                Error = r.State == InstanceState.Failed ? r.Reason ?? "" : "",
                StartedAt = Time(r.StartedAt),
                FinishedAt = Time(r.FinishedAt),
            },
            Image = DockerImageEndpoints.ImageIdOf(images, r.Spec.Image),
            Name = "/" + r.Name,
            RestartCount = r.RestartCount,
            HostConfig = new DockerHostConfigView
            {
                NetworkMode = NetworkMode(r, networks, names),
                PortBindings = bindings,
                RestartPolicy = new DockerRestartPolicy(restart.Mode switch
                {
                    RestartMode.Always => "always",
                    RestartMode.OnFailure => "on-failure",
                    _ => "no",
                }, restart.MaxRetries),
                AutoRemove = r.Spec.AutoRemove,
                ReadonlyRootfs = r.Spec.Security?.ReadOnlyRootfs ?? false,
                CapAdd = r.Spec.Security?.CapAdd,
                CapDrop = r.Spec.Security?.CapDrop,
                Binds = mounts.Count == 0 ? null : [.. mounts.Select(m => $"{m.Name ?? m.Source}:{m.Destination}{(m.RW ? "" : ":ro")}")],
                Memory = r.Spec.Resources?.MemoryBytes ?? 0,
                NanoCpus = (long)((r.Spec.Resources?.Cpus ?? 0) * 1e9),
                PidsLimit = r.Spec.Resources?.Pids,
                CpusetCpus = r.Spec.Resources?.Cpuset ?? "",
                Runtime = Runtime(r),
            },
            Config = new DockerContainerConfigView
            {
                Hostname = r.Name,
                User = r.Spec.Security?.User ?? "",
                AttachStdin = r.Spec.Stdin,
                AttachStdout = true,
                AttachStderr = true,
                Tty = r.Spec.Tty,
                OpenStdin = r.Spec.Stdin,
                StdinOnce = r.Spec.Stdin,
                ExposedPorts = exposed.Count > 0 ? exposed : null,
                Env = [.. (r.Spec.Env ?? new Dictionary<string, string>()).Select(e => $"{e.Key}={e.Value}")],
                Cmd = r.Spec.Args,
                Entrypoint = r.Spec.Command,
                Image = r.Spec.Image ?? "",
                WorkingDir = r.Spec.WorkingDir ?? "",
                Labels = new Dictionary<string, string>(r.Spec.Labels ?? new Dictionary<string, string>()),
            },
            NetworkSettings = new DockerNetworkSettings
            {
                Ports = bindings.ToDictionary(b => b.Key, b => r.State.IsActive() ? b.Value : null, StringComparer.Ordinal),
                Networks = endpoints,
                IPAddress = first.IPAddress,
                Gateway = first.Gateway,
                IPPrefixLen = first.IPPrefixLen,
            },
            Mounts = mounts,
        };
    }
}

/// <summary>Signal names and numbers (Linux) for exit codes and <c>kill --signal</c>.</summary>
internal static class Signals
{
    private static readonly string[] Names =
        ["", "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2", "PIPE", "ALRM", "TERM"];

    public static int Number(string name)
    {
        var n = name.StartsWith("SIG", StringComparison.Ordinal) ? name[3..] : name;
        var i = Array.IndexOf(Names, n.ToUpperInvariant());
        return i > 0 ? i : int.TryParse(n, NumberStyles.None, CultureInfo.InvariantCulture, out var number) ? number : 0;
    }

    public static int Parse(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return 9;
        }
        var n = Number(text);
        return n is > 0 and < 65 ? n : throw StrataException.Invalid("signal", $"'{text}' is not a signal; use a name such as SIGTERM or a number");
    }
}
