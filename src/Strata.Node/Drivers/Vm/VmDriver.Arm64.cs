using Strata.Contracts;
using Strata.Node.Guest;
using Strata.Qemu;
using Strata.Qemu.Guest;

namespace Strata.Node.Drivers.Vm;

public sealed partial class VmDriver
{
    internal const string Amd64 = "amd64";
    internal const string Arm64 = "arm64";
    internal const string Arm64EmulatorPackage = "qemu-system-arm";
    internal const string Arm64KernelPackage = "linux-image-cloud-arm64";

    /// <summary>The guest architecture from <c>requirements.arch</c> (<c>--arch</c>): amd64 (default) or arm64.</summary>
    internal static string GuestArch(string? requested) => requested?.Trim().ToLowerInvariant() switch
    {
        null or "" or "host" or "amd64" or "x86_64" or "x86-64" => Amd64,
        "arm64" or "aarch64" => Arm64,
        var other => throw StrataException.Invalid("requirements.arch", $"'{other}' is not an architecture the vm tier runs; use amd64 or arm64 (arm64 runs under qemu-system-aarch64)"),
    };

    /// <summary>What <c>strata info</c> says about arm64 guests on this host.</summary>
    private string Arm64Status()
    {
        if (FindOnPath(_options.Arm64QemuBinary) is null)
        {
            return $"arm64: no ({_options.Arm64QemuBinary} is not installed: apt-get install {Arm64EmulatorPackage})";
        }
        if (Arm64Kernel() is not { } kernel)
        {
            return $"arm64: no ({_options.Arm64QemuBinary} installed, but no arm64 guest kernel in {_options.Arm64GuestDirectory}: run scripts/fetch-arm64-guest.sh)";
        }
        return File.Exists(Arm64Guest.BusyboxPath(_options.Arm64GuestDirectory))
            ? $"arm64: yes ({_options.Arm64QemuBinary}, TCG, virt machine, kernel {Path.GetFileName(kernel)})"
            : $"arm64: no (kernel {Path.GetFileName(kernel)} but no arm64 busybox in {_options.Arm64GuestDirectory}: run scripts/fetch-arm64-guest.sh)";
    }

    private string? Arm64Kernel()
    {
        if (_options.Arm64KernelPath is { } path)
        {
            return File.Exists(path) ? path : null;
        }
        return Arm64Guest.FindKernel(_options.Arm64GuestDirectory);
    }

    /// <summary>
    /// arm64 guests: the emulator, the arm64 kernel and the arm64 busybox are checked and named when missing
    /// (the kernel and busybox come from scripts/fetch-arm64-guest.sh; docs/vm.md).
    /// </summary>
    private void CheckArm64()
    {
        if (FindOnPath(_options.Arm64QemuBinary) is null)
        {
            throw new StrataException(ErrorKind.Unavailable, $"arm64 guests run under {_options.Arm64QemuBinary}, which is not installed; apt-get install {Arm64EmulatorPackage}");
        }
        if (Arm64Kernel() is null)
        {
            var where = _options.Arm64KernelPath ?? Path.Combine(_options.Arm64GuestDirectory, "vmlinuz-*-arm64");
            throw new StrataException(ErrorKind.Unavailable, $"there is no arm64 guest kernel ({Arm64KernelPackage}) at {where}; {Arm64Guest.FetchHint}");
        }
        Arm64Guest.LocateBusybox(_options.Arm64GuestDirectory);
    }

    private GuestBootFiles? _arm64Assets;

    /// <summary>The arm64 kernel and an initramfs of arm64 busybox, its modules and the same init (cached like amd64's).</summary>
    private async Task<GuestBootFiles> EnsureArm64AssetsAsync(CancellationToken cancellationToken)
    {
        if (_arm64Assets is { } ready)
        {
            return ready;
        }
        var kernel = _options.Arm64KernelPath is { } path
            ? new GuestKernelInfo(path, Path.GetFileName(path).Replace("vmlinuz-", "", StringComparison.Ordinal), null)
            : Arm64Guest.LocateKernel(_options.Arm64GuestDirectory);
        var busybox = Arm64Guest.LocateBusybox(_options.Arm64GuestDirectory);
        var initrd = await new InitramfsBuilder(kernel, busybox).EnsureAsync(_guest.Assets.InitramfsDirectory, cancellationToken).ConfigureAwait(false);
        _arm64Assets = new GuestBootFiles(kernel, initrd);
        return _arm64Assets;
    }
}
