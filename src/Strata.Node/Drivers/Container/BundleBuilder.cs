using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Strata.Contracts;
using Strata.Node.Workloads;

namespace Strata.Node.Drivers.Container;

/// <summary>
/// Turns a resolved workload (<see cref="WorkloadResolver"/>: argv, env, user and working directory from the image
/// config and the spec, the same rules as every OCI tier) plus an <see cref="InstanceSpec"/> into an OCI runtime
/// <c>config.json</c>.
/// </summary>
public static partial class BundleBuilder
{
    public const string DefaultPath = WorkloadResolver.DefaultPath;
    public const long DefaultPidsLimit = 2048;
    private const long CfsPeriodMicros = 100_000;

    [GeneratedRegex(@"^\d+(-\d+)?(,\d+(-\d+)?)*$")]
    private static partial Regex CpusetList();

    /// <summary>Checks the parts of the spec only the container tier has, before anything is created.</summary>
    public static void Validate(InstanceSpec spec)
    {
        if (spec.Image is null)
        {
            throw StrataException.Invalid("image", "the container tier needs an image, e.g. strata run --tier container busybox sh");
        }
        if (spec.Network is not (null or "none" or "host"))
        {
            Strata.Node.Networking.NetworkRegistry.ValidateName(spec.Network, "network");
        }
        if (spec.Ports is { Count: > 0 } ports)
        {
            if (spec.Network is "none" or "host")
            {
                throw StrataException.Invalid("ports", $"published ports need a network, and --network {spec.Network} has none; leave --network out (the default bridge) or name a network");
            }
            for (var i = 0; i < ports.Count; i++)
            {
                ports[i].Validate($"ports[{i}]");
            }
        }
        if (spec.Resources?.Cpuset is { } cpuset)
        {
            if (!CpusetList().IsMatch(cpuset))
            {
                throw StrataException.Invalid("resources.cpuset", $"'{cpuset}' is not a CPU list; use numbers and ranges such as 0-1,3");
            }
            var max = System.Environment.ProcessorCount - 1;
            foreach (var part in cpuset.Split(',', '-'))
            {
                if (int.Parse(part, CultureInfo.InvariantCulture) > max)
                {
                    throw StrataException.Invalid("resources.cpuset", $"CPU {part} does not exist on this host (CPUs 0-{max})");
                }
            }
        }
        ContainerSecurity.Capabilities(spec.Security?.CapAdd, spec.Security?.CapDrop);
        _ = Devices(spec.Security?.Devices);
        var mounts = spec.Mounts ?? [];
        for (var i = 0; i < mounts.Count; i++)
        {
            if (!File.Exists(mounts[i].Source) && !Directory.Exists(mounts[i].Source))
            {
                throw StrataException.Invalid($"mounts[{i}].source", $"'{mounts[i].Source}' does not exist on this host; create it first");
            }
            if (mounts[i].Target == "/" || mounts[i].Target.Split('/').Contains(".."))
            {
                throw StrataException.Invalid($"mounts[{i}].target", $"'{mounts[i].Target}' cannot be mounted over; choose a path below /");
            }
        }
    }

    public sealed record Plan
    {
        public required string Hostname { get; init; }
        /// <summary>argv, environment, user and working directory of the container's process.</summary>
        public required ResolvedWorkload Workload { get; init; }
        public required string RootfsPath { get; init; }
        public required string CgroupsPath { get; init; }
        public required InstanceSpec Spec { get; init; }
        /// <summary>A named network namespace to join (a network member) instead of a new, loopback-only one.</summary>
        public string? NetworkNamespacePath { get; init; }
        /// <summary>The managed hosts file of a network member, bind-mounted read-only as /etc/hosts.</summary>
        public string? HostsFile { get; init; }
        /// <summary>The resolver configuration (see ResolvConf), bind-mounted read-only as /etc/resolv.conf; null: the image's.</summary>
        public string? ResolvConf { get; init; }
    }

    public static JsonObject Build(Plan plan)
    {
        var spec = plan.Spec;
        var security = spec.Security ?? new SecuritySpec();
        var caps = ContainerSecurity.Capabilities(security.CapAdd, security.CapDrop);
        JsonArray Caps() => new([.. caps.Select(c => (JsonNode)c)]);

        var namespaces = new JsonArray(
            new JsonObject { ["type"] = "pid" }, new JsonObject { ["type"] = "mount" },
            new JsonObject { ["type"] = "ipc" }, new JsonObject { ["type"] = "uts" });
        if (spec.Network != "host")
        {
            // runc and crun bring a new namespace's loopback up themselves; a network member's namespace is
            // prepared (loopback up, eth0 on the bridge) before the container joins it.
            namespaces.Add(plan.NetworkNamespacePath is { } netns
                ? new JsonObject { ["type"] = "network", ["path"] = netns }
                : new JsonObject { ["type"] = "network" });
        }

        var mounts = new JsonArray(
            Mount("/proc", "proc", "proc", "nosuid", "noexec", "nodev"),
            Mount("/dev", "tmpfs", "tmpfs", "nosuid", "strictatime", "mode=755", "size=65536k"),
            Mount("/dev/pts", "devpts", "devpts", "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"),
            Mount("/dev/shm", "tmpfs", "shm", "nosuid", "noexec", "nodev", "mode=1777", "size=65536k"),
            Mount("/dev/mqueue", "mqueue", "mqueue", "nosuid", "noexec", "nodev"),
            spec.Network == "host"
                ? Mount("/sys", "bind", "/sys", "rbind", "nosuid", "noexec", "nodev", "ro")
                : Mount("/sys", "sysfs", "sysfs", "nosuid", "noexec", "nodev", "ro"),
            Mount("/sys/fs/cgroup", "cgroup", "cgroup", "nosuid", "noexec", "nodev", "relatime", "ro"));
        if (plan.HostsFile is { } hosts)
        {
            mounts.Add(Mount("/etc/hosts", "bind", hosts, "bind", "rprivate", "ro"));
        }
        if (plan.ResolvConf is { } resolv)
        {
            mounts.Add(Mount("/etc/resolv.conf", "bind", resolv, "bind", "rprivate", "ro"));
        }
        // Binds and tmpfs mounts, shallower paths first, so a mount inside another one's path lands on top of it.
        var user = new List<(string Target, JsonObject Mount)>();
        foreach (var m in spec.Mounts ?? [])
        {
            user.Add((m.Target, m.ReadOnly
                ? Mount(m.Target, "bind", m.Source, "rbind", "rprivate", "ro")
                : Mount(m.Target, "bind", m.Source, "rbind", "rprivate")));
        }
        foreach (var t in spec.Tmpfs ?? [])
        {
            user.Add((t.Target, Mount(t.Target, "tmpfs", "tmpfs", [.. t.MountOptions()])));
        }
        foreach (var (_, mount) in user.OrderBy(u => u.Target.TrimEnd('/').Count(c => c == '/')))
        {
            mounts.Add(mount);
        }

        var deviceRules = new JsonArray(new JsonObject { ["allow"] = false, ["access"] = "rwm" });
        var devices = new JsonArray();
        foreach (var d in Devices(security.Devices))
        {
            devices.Add(new JsonObject
            {
                ["path"] = d.ContainerPath, ["type"] = d.Type, ["major"] = d.Major, ["minor"] = d.Minor,
                ["fileMode"] = d.Mode, ["uid"] = 0, ["gid"] = 0,
            });
            deviceRules.Add(new JsonObject { ["allow"] = true, ["type"] = d.Type, ["major"] = d.Major, ["minor"] = d.Minor, ["access"] = "rwm" });
        }
        var resources = new JsonObject { ["devices"] = deviceRules };
        var cpu = new JsonObject();
        if (spec.Resources?.Cpuset is { } cpuset)
        {
            cpu["cpus"] = cpuset;
        }
        if (spec.Resources?.Cpus is { } cores)
        {
            cpu["period"] = CfsPeriodMicros;
            cpu["quota"] = (long)Math.Ceiling(cores * CfsPeriodMicros);
        }
        if (cpu.Count > 0)
        {
            resources["cpu"] = cpu;
        }
        if (spec.Resources?.Pids is { } pids)
        {
            resources["pids"] = new JsonObject { ["limit"] = pids };
        }


        var config = new JsonObject
        {
            ["ociVersion"] = "1.0.2",
            ["process"] = new JsonObject
            {
                ["terminal"] = spec.Tty,
                ["user"] = new JsonObject { ["uid"] = plan.Workload.Uid, ["gid"] = plan.Workload.Gid },
                ["args"] = new JsonArray([.. plan.Workload.Argv.Select(a => (JsonNode)a)]),
                ["env"] = new JsonArray([.. plan.Workload.EnvEntries().Select(e => (JsonNode)e)]),
                ["cwd"] = plan.Workload.WorkingDir,
                ["capabilities"] = new JsonObject
                {
                    ["bounding"] = Caps(), ["effective"] = Caps(), ["permitted"] = Caps(),
                },
                ["rlimits"] = new JsonArray(new JsonObject { ["type"] = "RLIMIT_NOFILE", ["hard"] = s_openFilesHard, ["soft"] = Math.Min(s_openFilesHard, 1024L) }),
                ["noNewPrivileges"] = true,
            },
            ["root"] = new JsonObject { ["path"] = plan.RootfsPath, ["readonly"] = security.ReadOnlyRootfs },
            ["hostname"] = plan.Hostname,
            ["mounts"] = mounts,
            ["linux"] = new JsonObject
            {
                ["cgroupsPath"] = plan.CgroupsPath,
                ["resources"] = resources,
                ["namespaces"] = namespaces,
                ["devices"] = devices,
                ["seccomp"] = ContainerSecurity.SeccompProfile(caps),
                ["maskedPaths"] = new JsonArray([.. ContainerSecurity.MaskedPaths.Select(p => (JsonNode)p)]),
                ["readonlyPaths"] = new JsonArray([.. ContainerSecurity.ReadonlyPaths.Select(p => (JsonNode)p)]),
            },
        };
        if (spec is { Tty: true, TerminalSize: { } size })
        {
            // Set by runc on the container's terminal before the process runs: right from its first instruction.
            config["process"]!["consoleSize"] = new JsonObject { ["height"] = size.Rows, ["width"] = size.Columns };
        }
        return config;
    }

    // A container may not raise its limit above the daemon's own hard limit.
    private static readonly long s_openFilesHard = OpenFilesHardLimit();

    private static long OpenFilesHardLimit()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/limits"))
            {
                if (line.StartsWith("Max open files", StringComparison.Ordinal))
                {
                    var cols = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    return long.TryParse(cols[4], NumberStyles.None, CultureInfo.InvariantCulture, out var hard) ? Math.Min(hard, 1048576) : 1024;
                }
            }
        }
        catch (IOException)
        {
        }
        return 1024;
    }

    private static JsonObject Mount(string destination, string type, string source, params string[] options) => new()
    {
        ["destination"] = destination,
        ["type"] = type,
        ["source"] = source,
        ["options"] = new JsonArray([.. options.Select(o => (JsonNode)o)]),
    };

    public sealed record Device(string ContainerPath, string Type, long Major, long Minor, int Mode);

    /// <summary>Parses <c>HOST[:CONTAINER]</c> entries and looks the host devices up.</summary>
    public static IReadOnlyList<Device> Devices(IReadOnlyList<string>? entries)
    {
        var result = new List<Device>();
        for (var i = 0; i < (entries?.Count ?? 0); i++)
        {
            var field = $"security.devices[{i}]";
            var parts = entries![i].Split(':');
            var host = parts[0];
            var container = parts.Length > 1 && parts[1].Length > 0 ? parts[1] : host;
            if (parts.Length > 3 || !host.StartsWith('/') || !container.StartsWith("/dev/", StringComparison.Ordinal))
            {
                throw StrataException.Invalid(field, $"'{entries[i]}' is not HOST[:CONTAINER] with absolute paths (the container path under /dev)");
            }
            if (DeviceNumbers(host) is not { } dev)
            {
                throw StrataException.Invalid(field, $"'{host}' is not a character or block device on this host");
            }
            result.Add(new Device(container, dev.Type, dev.Major, dev.Minor, dev.Mode));
        }
        return result;
    }

    /// <summary>stat(2) of a device node: its type (c or b), major and minor numbers and permission bits.</summary>
    private static unsafe (string Type, long Major, long Minor, int Mode)? DeviceNumbers(string path)
    {
        var buffer = stackalloc byte[256];
        if (stat(path, buffer) != 0)
        {
            return null;
        }
        // struct stat differs: x86_64 has st_mode at 24 and st_rdev at 40; the generic layout (arm64) 16 and 32.
        var arm = RuntimeInformation.ProcessArchitecture == Architecture.Arm64;
        var mode = *(uint*)(buffer + (arm ? 16 : 24));
        var rdev = *(ulong*)(buffer + (arm ? 32 : 40));
        var type = (mode & 0xF000) switch { 0x2000 => "c", 0x6000 => "b", _ => null };
        if (type is null)
        {
            return null;
        }
        var major = (long)(((rdev >> 8) & 0xfff) | ((rdev >> 32) & ~0xfffUL));
        var minor = (long)((rdev & 0xff) | ((rdev >> 12) & ~0xffUL));
        return (type, major, minor, (int)(mode & 0x1ff));
    }

    [DllImport("libc", EntryPoint = "stat", SetLastError = true)]
    private static extern unsafe int stat([MarshalAs(UnmanagedType.LPUTF8Str)] string path, byte* buffer);
}
