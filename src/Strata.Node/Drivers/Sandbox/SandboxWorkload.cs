using System.Text.Json;
using System.Text.Json.Serialization;
using Strata.Contracts;
using Strata.Node.Images;
using Strata.Qemu.Guest;

namespace Strata.Node.Drivers.Sandbox;

/// <summary>
/// What one sandbox runs, decided at create time from the image config and the spec (the container
/// tier's rules) and kept in <c>&lt;instanceDir&gt;/sandbox.json</c>, so a start or an exec after a daemon
/// restart needs nothing else. Persisted format: bump <see cref="CurrentVersion"/> when the shape changes.
/// </summary>
public sealed record SandboxWorkload
{
    /// <summary>2 added <see cref="Mounts"/>; version 1 files (no mounts) are still read.</summary>
    public const int CurrentVersion = 2;
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
    /// <summary>Host directories shared into the guest (virtio-fs), in the order of the spec.</summary>
    public IReadOnlyList<SandboxMount> Mounts { get; init; } = [];

    public const int DefaultMemoryMiB = 256;
    public const int MinimumMemoryMiB = 64;

    /// <summary>
    /// argv = (spec command ?? image entrypoint) ++ (spec args ?? (spec command given ? [] : image cmd)), as
    /// Docker does (<c>--entrypoint</c> resets CMD). Env: image env, then Strata's, then the spec's.
    /// </summary>
    public static SandboxWorkload Decide(InstanceSpec spec, string name, ImageConfig config, string baseDisk, string imageDigest)
    {
        var argv = new List<string>(spec.Command ?? config.Entrypoint ?? []);
        argv.AddRange(spec.Args ?? (spec.Command is not null ? [] : config.Cmd ?? []));
        if (argv.Count == 0 || string.IsNullOrEmpty(argv[0]))
        {
            throw StrataException.Invalid("args", $"image {spec.Image} has no entrypoint or cmd; give a command, e.g. strata run --tier sandbox {spec.Image} -- sh -c 'echo hi'");
        }
        var env = new Dictionary<string, string>(StringComparer.Ordinal) { ["PATH"] = GuestWorkload.DefaultPath };
        foreach (var entry in config.Env ?? [])
        {
            var eq = entry.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0)
            {
                env[entry[..eq]] = entry[(eq + 1)..];
            }
        }
        env["HOSTNAME"] = name;
        env["STRATA_INSTANCE"] = name;
        foreach (var (k, v) in spec.Env ?? new Dictionary<string, string>())
        {
            env[k] = v;
        }
        if (config.User is { Length: > 0 } user && user is not ("root" or "0" or "0:0" or "root:root"))
        {
            // Debian's static busybox has no way to drop to another uid (no setpriv --reuid, no chpst), and running
            // as root when the image asked for another user would be a silent privilege gain.
            throw StrataException.Invalid("image", $"image {spec.Image} runs as user '{user}'; the sandbox tier runs workloads as root inside the guest only; use --tier container for this image");
        }
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
            Argv = argv,
            Env = env,
            WorkingDir = spec.WorkingDir ?? (string.IsNullOrEmpty(config.WorkingDir) ? "/" : config.WorkingDir),
            Cpus = Math.Max(1, cpus),
            MemoryMiB = memory,
            BaseDisk = baseDisk,
            ImageDigest = imageDigest,
        };
        _ = workload.ToGuest().ToKernelArgument(); // refuses what does not fit the kernel command line, naming the field
        return workload;
    }

    public GuestWorkload ToGuest() => new(Argv, Env, WorkingDir);

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
        // A version 1 file has no mounts (the serializer leaves the property null, not its initializer's []).
        return w.Mounts is null ? w with { Mounts = [] } : w;
    }
}

/// <summary>One <c>-v HOST:GUEST[:ro]</c> of a sandbox: a host directory the guest mounts over virtio-fs.</summary>
public sealed record SandboxMount(string Source, string Target, bool ReadOnly)
{
    /// <summary>Checks a spec mount for the sandbox tier: an existing host directory, a guest path below /.</summary>
    public static SandboxMount From(MountSpec spec, int index)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var field = $"mounts[{index.ToString(System.Globalization.CultureInfo.InvariantCulture)}]";
        if (!Path.IsPathFullyQualified(spec.Source) || spec.Source.Any(char.IsControl))
        {
            throw StrataException.Invalid(field + ".source", $"'{spec.Source}' is not an absolute host path");
        }
        if (!Directory.Exists(spec.Source))
        {
            throw StrataException.Invalid(field + ".source", File.Exists(spec.Source)
                ? $"'{spec.Source}' is a file; the sandbox tier shares directories only (virtio-fs); mount its directory or use --tier container"
                : $"'{spec.Source}' does not exist on this host; create it first");
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
        return new SandboxMount(Path.GetFullPath(spec.Source), target.TrimEnd('/'), spec.ReadOnly);
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(SandboxWorkload))]
internal sealed partial class SandboxJsonContext : JsonSerializerContext;
