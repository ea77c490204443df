using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Serialization;
using Strata.Qemu;
using Strata.Qemu.Guest;

namespace Strata.Node.Drivers.Sandbox.Templates;

/// <summary>
/// Everything that shapes a sandbox guest up to the point its template is saved: the kernel, the initramfs (its
/// file name is a hash of the guest init, the exec agent, busybox and the modules), the guest init's version, the
/// machine, memory, vCPUs, accelerator and architecture, QEMU itself, the kernel command line's clock setting, the
/// image's base disk (the guest's block cache holds its first blocks) and the devices present (a NIC, a names disk, the free-page-reporting balloon, the empty PCIe slots for <c>-v</c> mounts).
/// Any change gives another key, so a template made for other inputs is never used. Nothing of a tenant is in here:
/// the workload, its environment, user, mounts, address and hostname reach the guest only after the template point.
/// </summary>
internal sealed record SandboxTemplateShape(
    string ImageDigest,
    string BaseDisk,
    string KernelPath,
    string Initrd,
    string Accelerator,
    int MemoryMiB,
    int Cpus,
    string QemuBinary,
    long? TscKHz,
    bool Network,
    bool NamesDisk,
    bool Balloon = false,
    int ShareSlots = 0,
    string? CpuModel = null)
{
    public string Machine => "microvm";

    public static string Architecture => RuntimeInformation.OSArchitecture.ToString().ToLowerInvariant();

    /// <summary>32 hex digits of SHA-256 over every input above (files by path, size and modification time).</summary>
    public string Key(int guestInitVersion = GuestInit.Version)
    {
        var text = new StringBuilder();
        text.Append("guest-init v").Append(guestInitVersion.ToString(CultureInfo.InvariantCulture)).Append('\n');
        text.Append("machine ").Append(Machine).Append(" arch ").Append(Architecture).Append(" accel ").Append(Accelerator).Append('\n');
        text.Append(CultureInfo.InvariantCulture, $"memory {GuestRam.Size(MemoryMiB)} cpus {Cpus} tsc {TscKHz}\n");
        text.Append(CultureInfo.InvariantCulture, $"devices net={Network} names={NamesDisk} balloon={Balloon}\n");
        if (ShareSlots > 0)
        {
            // Empty PCIe slots for -v mounts plugged in after the restore (absent from the key without mounts, so the
            // templates made before slots existed keep their keys).
            text.Append(CultureInfo.InvariantCulture, $"share-slots {ShareSlots}\n");
        }
        if (CpuModel is not null)
        {
            // A cluster's CPU baseline (absent without one, so the templates made before keep their keys).
            text.Append("cpu ").Append(CpuModel).Append('\n');
        }
        text.Append("image ").Append(ImageDigest).Append('\n');
        foreach (var file in new[] { BaseDisk, KernelPath, Initrd, ResolveBinary(QemuBinary) })
        {
            var info = new FileInfo(file);
            text.Append(CultureInfo.InvariantCulture, $"file {file} {(info.Exists ? info.Length : -1)} {(info.Exists ? info.LastWriteTimeUtc.Ticks : 0)}\n");
        }
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())))[..32];
    }

    /// <summary>QEMU's path as PATH finds it (its size and date are part of the key: an upgrade changes the device state format).</summary>
    private static string ResolveBinary(string binary)
    {
        if (binary.Contains('/', StringComparison.Ordinal))
        {
            return binary;
        }
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, binary);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        return binary;
    }
}

/// <summary>One saved template, as <c>template.json</c> describes it and <c>strata image ls</c> shows it.</summary>
public sealed record SandboxTemplateInfo
{
    public const int CurrentVersion = 1;

    public int Version { get; init; } = CurrentVersion;
    public required string Key { get; init; }
    /// <summary>The image digest (or <c>dir:PATH</c>) the template's root disk is.</summary>
    public required string Image { get; init; }
    public int MemoryMiB { get; init; }
    public int Cpus { get; init; }
    public bool Network { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    /// <summary>SHA-256 of the device state file, checked before every start from the template.</summary>
    public required string StateSha256 { get; init; }
    /// <summary>Bytes the template takes on disk (the memory file is sparse: only pages the guest touched).</summary>
    public long SizeBytes { get; init; }
    /// <summary>How long the cold boot to the template point and the save took.</summary>
    public double BootMs { get; init; }
    public double SaveMs { get; init; }
    /// <summary>The guest's RAM is in the state file (anonymous RAM on restore: the vm tier's templates), not in a <c>memory</c> file.</summary>
    public bool RamInState { get; init; }

    [JsonIgnore]
    public string Directory { get; init; } = "";
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(SandboxTemplateInfo))]
internal sealed partial class SandboxTemplateJsonContext : JsonSerializerContext;
