using System.Text.Json.Serialization;

namespace Strata.Node.Drivers.Vm;

/// <summary>
/// Everything needed to (re)start one VM, written at create time to <c>&lt;instanceDir&gt;/vm.json</c> so a start
/// after a daemon restart needs nothing else. Persisted format: bump <see cref="CurrentVersion"/> when the shape changes.
/// </summary>
public sealed record VmConfig
{
    public const int CurrentVersion = 1;

    public int Version { get; init; } = CurrentVersion;
    /// <summary><c>oci</c>: Strata kernel + initramfs + ext4 root; <c>disk</c>: firmware boots the disk's own loader.</summary>
    public string Kind { get; init; } = VmKinds.Oci;
    public string QemuBinary { get; init; } = "qemu-system-x86_64";
    public string Machine { get; init; } = "pc";
    public string Accel { get; init; } = "tcg";
    public int Cpus { get; init; } = 1;
    /// <summary>
    /// Under KVM, the named CPU model chosen at create (the cluster's baseline, docs/cluster.md "CPU baseline"); null:
    /// <c>host</c> (a standalone daemon) or QEMU's default (TCG). A live move's target starts the same <c>-cpu</c>.
    /// </summary>
    public string? CpuModel { get; init; }
    public int MaxCpus { get; init; } = 1;
    public int MemoryMiB { get; init; } = 256;
    public string? KernelPath { get; init; }
    public string? InitrdPath { get; init; }
    public string? KernelAppend { get; init; }
    /// <summary>The shared, read-only base (ext4 built from the image, or the imported disk).</summary>
    public string BaseDisk { get; init; } = "";
    public string BaseFormat { get; init; } = "raw";
    /// <summary>This instance's qcow2 overlay: every write, and the internal snapshots (memory + devices + disk).</summary>
    public string Overlay { get; init; } = "";
    public bool Disposable { get; init; }
    /// <summary>The network this VM joined (a tap on its bridge, looked up at every start); null: no NIC.</summary>
    public string? Network { get; init; }
    /// <summary>The OCI image's ID (templates are listed and removed with their image).</summary>
    public string? ImageId { get; init; }
    /// <summary>
    /// OCI boots made by a Strata with vm templates (docs/vm.md#templates): the guest's own words (root, workload, exec
    /// agent, hostname; the network's are added at start), which a start from a template sends on the setup port.
    /// Null (older VMs, disk images): always a cold boot.
    /// </summary>
    public string? GuestWords { get; init; }
    /// <summary>QEMU has the <c>strata.setup</c> port (every OCI VM with <see cref="GuestWords"/>), so a cold boot and a start from a template have the same devices.</summary>
    public bool SetupPort { get; init; }
    /// <summary><c>--no-template</c>: every start boots cold.</summary>
    public bool NoTemplate { get; init; }
}

public static class VmKinds
{
    public const string Oci = "oci";
    public const string Disk = "disk";
}

/// <summary>What a snapshot directory holds: the name of the internal snapshot inside the overlay.</summary>
public sealed record VmSnapshotRecord
{
    public string Tag { get; init; } = "";
    public DateTimeOffset TakenAt { get; init; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(VmConfig))]
[JsonSerializable(typeof(VmSnapshotRecord))]
internal sealed partial class VmJsonContext : JsonSerializerContext;
