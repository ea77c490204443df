using System.Text.Json;
using System.Text.Json.Serialization;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Images;
using Strata.Node.Workloads;
using Strata.Qemu.Guest;

namespace Strata.Node.Drivers.Sandbox;

/// <summary>
/// What one sandbox runs, decided at create time from the image config and the spec (the container
/// tier's rules) and kept in <c>&lt;instanceDir&gt;/sandbox.json</c>, so a start or an exec after a daemon
/// restart needs nothing else. Persisted format: bump <see cref="CurrentVersion"/> when the shape changes.
/// </summary>
public sealed record SandboxWorkload
{
    /// <summary>
    /// 2 added <see cref="Mounts"/>; 3 added <see cref="Uid"/>, <see cref="Gid"/>, <see cref="Home"/>, <see cref="Layers"/>
    /// and <see cref="SandboxMount.File"/>. Older files are still read: no mounts, root, HOME /root.
    /// </summary>
    public const int CurrentVersion = 3;
    public const string FileName = "sandbox.json";

    public int Version { get; init; } = CurrentVersion;
    public required IReadOnlyList<string> Argv { get; init; }
    public required IReadOnlyDictionary<string, string> Env { get; init; }
    public required string WorkingDir { get; init; }
    public required int Cpus { get; init; }
    public required int MemoryMiB { get; init; }
    /// <summary>The cached read-only ext4 image of the image's layers (the overlay's backing file).</summary>
    public required string BaseDisk { get; init; }
    public required string ImageDigest { get; init; }
    /// <summary>Host directories and files shared into the guest (virtio-fs), in the order of the spec.</summary>
    public IReadOnlyList<SandboxMount> Mounts { get; init; } = [];
    /// <summary>The user the workload runs as in the guest (image USER, or the spec's <c>--user</c>), resolved like the container tier.</summary>
    public long Uid { get; init; }
    public long Gid { get; init; }
    /// <summary>The user's home in the image's /etc/passwd, else / (HOME unless the image or the spec set it; <see cref="Env"/> holds HOME too). Null in older files: /root.</summary>
    public string? Home { get; init; }
    /// <summary>The image's layer directories (lowest first), to resolve <c>exec --user NAME</c> in the image's /etc/passwd.</summary>
    public IReadOnlyList<string> Layers { get; init; } = [];
    /// <summary>The spec's <c>--no-template</c>: every start boots cold (docs/sandbox.md#templates).</summary>
    public bool NoTemplate { get; init; }
    /// <summary>
    /// Under KVM in a cluster, the guest CPU baseline model decided at create (docs/cluster.md "CPU baseline"), so the
    /// sandbox moves live to any node that runs it; null: <c>-cpu host</c> (or TCG's default). A live move carries it.
    /// </summary>
    public string? CpuModel { get; init; }

    public const int DefaultMemoryMiB = TierResizeRange.GuestDefaultMemoryMiB;
    public const int MinimumMemoryMiB = TierResizeRange.GuestMinimumMemoryMiB;

    /// <summary>
    /// argv, environment, user, HOME and working directory come from <see cref="WorkloadResolver"/>, the rules every
    /// OCI tier shares (docs/workload.md); the rest (vCPUs, memory, mounts) is the sandbox's own.
    /// </summary>
    public static SandboxWorkload Decide(InstanceSpec spec, string name, ImageConfig config, string baseDisk, string imageDigest, IReadOnlyList<string>? layers = null)
    {
        layers ??= [];
        var resolved = WorkloadResolver.Resolve(spec, name, config, layers, TierNames.Sandbox);
        var cpus = spec.Resources?.Cpus is { } c ? (int)Math.Ceiling(c) : 1;
        var memory = spec.Resources?.MemoryBytes is { } m ? (int)Math.Min(int.MaxValue, m / (1024 * 1024)) : DefaultMemoryMiB;
        if (memory < MinimumMemoryMiB)
        {
            throw StrataException.Invalid("resources.memoryBytes", $"a sandbox needs at least {MinimumMemoryMiB} MiB for its guest kernel; give --memory {MinimumMemoryMiB}m or more");
        }
        var mounts = new List<SandboxMount>();
        var specMounts = spec.Mounts ?? [];
        for (var i = 0; i < specMounts.Count; i++)
        {
            mounts.Add(SandboxMount.From(specMounts[i], i));
        }
        var workload = new SandboxWorkload
        {
            Mounts = mounts,
            Argv = resolved.Argv,
            Env = resolved.EnvMap(),
            WorkingDir = resolved.WorkingDir,
            Cpus = Math.Max(1, cpus),
            MemoryMiB = memory,
            BaseDisk = baseDisk,
            ImageDigest = imageDigest,
            Uid = resolved.Uid,
            Gid = resolved.Gid,
            Home = resolved.Home,
            Layers = layers,
            NoTemplate = spec.NoTemplate,
        };
        _ = workload.ToGuest().ToKernelArgument(); // refuses what does not fit the kernel command line, naming the field
        return workload;
    }

    public GuestWorkload ToGuest() => new(Argv, Env, WorkingDir, Uid, Gid, Home);

    public void Save(string instanceDir) =>
        File.WriteAllText(Path.Combine(instanceDir, FileName), JsonSerializer.Serialize(this, SandboxJsonContext.Default.SandboxWorkload));

    public static SandboxWorkload Load(string instanceDir)
    {
        var path = Path.Combine(instanceDir, FileName);
        if (!File.Exists(path))
        {
            throw new StrataException(ErrorKind.Internal, $"{path} is missing; the sandbox was not created by this driver or its directory was damaged");
        }
        var w = JsonSerializer.Deserialize(File.ReadAllText(path), SandboxJsonContext.Default.SandboxWorkload)
            ?? throw new StrataException(ErrorKind.Internal, $"{path} is empty");
        if (w.Version is < 1 or > CurrentVersion)
        {
            throw new StrataException(ErrorKind.Internal, $"{path} has version {w.Version}; this stratad reads versions 1 to {CurrentVersion}");
        }
        // Older files lack the newer lists (the serializer leaves such a property null, not its initializer's []).
        return w with { Mounts = w.Mounts ?? [], Layers = w.Layers ?? [] };
    }
}

/// <summary>
/// One <c>-v HOST:GUEST[:ro]</c> of a sandbox: a host directory the guest mounts over virtio-fs, or (<paramref name="File"/>)
/// a single host file, shared alone from a private staging directory and bind-mounted onto GUEST in the guest.
/// </summary>
public sealed record SandboxMount(string Source, string Target, bool ReadOnly, bool File = false)
{
    /// <summary>Checks a spec mount for the sandbox tier: an existing host directory or file, a guest path below /.</summary>
    public static SandboxMount From(MountSpec spec, int index)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var field = $"mounts[{index.ToString(System.Globalization.CultureInfo.InvariantCulture)}]";
        if (!Path.IsPathFullyQualified(spec.Source) || spec.Source.Any(char.IsControl))
        {
            throw StrataException.Invalid(field + ".source", $"'{spec.Source}' is not an absolute host path");
        }
        var isFile = System.IO.File.Exists(spec.Source);
        if (!isFile && !Directory.Exists(spec.Source))
        {
            throw StrataException.Invalid(field + ".source", $"'{spec.Source}' does not exist on this host; create it first");
        }
        var target = spec.Target;
        if (!target.StartsWith('/') || target == "/" || target.Split('/').Contains("..") || target.Any(char.IsControl))
        {
            throw StrataException.Invalid(field + ".target", $"'{target}' cannot be mounted over; choose an absolute path below /, without '..'");
        }
        if (target.TrimEnd('/') is "/proc" or "/sys" or "/dev" or "/.strata")
        {
            throw StrataException.Invalid(field + ".target", $"'{target}' is the guest's own; choose another path");
        }
        return new SandboxMount(Path.GetFullPath(spec.Source), target.TrimEnd('/'), spec.ReadOnly, isFile);
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(SandboxWorkload))]
internal sealed partial class SandboxJsonContext : JsonSerializerContext;
