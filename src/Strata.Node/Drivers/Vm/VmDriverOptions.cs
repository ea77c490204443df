using Strata.Qemu;
using Strata.Qemu.Guest;

namespace Strata.Node.Drivers.Vm;

/// <summary>The vm tier's options: the shared guest settings (<see cref="GuestDriverOptions"/>) and the vm's own.</summary>
public sealed record VmDriverOptions : GuestDriverOptions
{
    /// <summary>The emulator for arm64 guests (package qemu-system-arm).</summary>
    public string Arm64QemuBinary { get; init; } = "qemu-system-aarch64";
    /// <summary>arm64 guest kernel; null: the newest <c>vmlinuz-*-arm64</c> in <see cref="Arm64GuestDirectory"/>.</summary>
    public string? Arm64KernelPath { get; init; }
    /// <summary>arm64 kernel, modules and busybox (scripts/fetch-arm64-guest.sh); default <see cref="Arm64Guest.Directory"/>.</summary>
    public string Arm64GuestDirectory { get; init; } = Arm64Guest.Directory;
    /// <summary>Guest kernel; null: <see cref="GuestKernel.Locate()"/> (Debian's cloud kernel).</summary>
    public string? KernelPath { get; init; }
    /// <summary>vCPUs a VM may grow to by hot-plug (at least what it starts with).</summary>
    public int MaxCpus { get; init; } = 4;
    /// <summary>Start OCI VMs from their image's booted template (docs/vm.md#templates); false: always cold (daemon <c>--no-vm-templates</c>).</summary>
    public bool Templates { get; init; } = true;
}
