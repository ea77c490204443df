using Strata.Node.Guest;
using Strata.Node.Networking;
using Strata.Node.Supervision;
using Strata.Qemu;
using Strata.Qemu.Guest;

namespace Strata.Node.Drivers.Vm;

public sealed record VmDriverOptions
{
    /// <summary>Where the driver's own <see cref="GuestPipeline"/> keeps its files when <see cref="Guest"/> is not given.</summary>
    public required string CacheDirectory { get; init; }
    /// <summary>
    /// The guest pipeline (kernel, initramfs, accelerator, per-image base disks) shared with the sandbox tier; the daemon
    /// gives one for both (<c>&lt;root&gt;/cache/guest</c>). Null: the driver's own under <see cref="CacheDirectory"/>,
    /// from <see cref="QemuBinary"/> and <see cref="KernelPath"/>.
    /// </summary>
    public GuestPipeline? Guest { get; init; }
    public string? Supervisor { get; init; }
    public long LogMaxBytes { get; init; } = 10 * 1024 * 1024;
    public string QemuBinary { get; init; } = "qemu-system-x86_64";
    /// <summary>The emulator for arm64 guests (package qemu-system-arm).</summary>
    public string Arm64QemuBinary { get; init; } = "qemu-system-aarch64";
    /// <summary>arm64 guest kernel; null: the newest <c>vmlinuz-*-arm64</c> in <see cref="Arm64GuestDirectory"/>.</summary>
    public string? Arm64KernelPath { get; init; }
    /// <summary>arm64 kernel, modules and busybox (scripts/fetch-arm64-guest.sh); default <see cref="Arm64Guest.Directory"/>.</summary>
    public string Arm64GuestDirectory { get; init; } = Arm64Guest.Directory;
    /// <summary>Guest kernel; null: <see cref="GuestKernel.Locate()"/> (Debian's cloud kernel).</summary>
    public string? KernelPath { get; init; }
    /// <summary>Force <c>kvm</c> or <c>tcg</c>; null: probe once and cache.</summary>
    public string? Accel { get; init; }
    /// <summary>vCPUs a VM may grow to by hot-plug (at least what it starts with).</summary>
    public int MaxCpus { get; init; } = 4;
    /// <summary>The node's networks, for <c>--network NAME</c> (a tap on the bridge). Null: VMs join no network.</summary>
    public NetworkRegistry? Networks { get; init; }
    /// <summary>Keep one supervisor started ahead of time for the next run (the daemon does; see SupervisorLauncher).</summary>
    public bool KeepSpareSupervisor { get; init; }
    /// <summary>The daemon's launcher, shared by its supervised tiers (one standby supervisor for all); null: the driver's own.</summary>
    public SupervisorLauncher? Launcher { get; init; }
}
