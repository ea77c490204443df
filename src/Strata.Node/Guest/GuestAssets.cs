using Strata.Contracts;
using Strata.Qemu;
using Strata.Qemu.Guest;

namespace Strata.Node.Guest;

/// <summary>What the guest tiers boot with: the guest kernel, Strata's initramfs for it (built once, cached by a hash of its inputs).</summary>
public sealed record GuestBootFiles(GuestKernelInfo Kernel, string Initrd);

/// <summary>
/// The guest kernel, initramfs and accelerator every sandbox and VM of a daemon boots with, prepared once and shared
/// by both tiers: the initramfs is cached in <c>&lt;cache&gt;/initramfs/</c>, the accelerator probe's answer in
/// <c>&lt;cache&gt;/accel-probe.json</c> (<see cref="AcceleratorProbe"/>: KVM only when a test guest really boots under it).
/// </summary>
/// <param name="locateKernel">Where the kernel is; null: <see cref="GuestKernel.Locate()"/> (Debian's cloud kernel). Asked on first use.</param>
public sealed class GuestAssets(string cacheDirectory, string qemuBinary = "qemu-system-x86_64", Func<GuestKernelInfo>? locateKernel = null, string busybox = "/bin/busybox") : IDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private GuestBootFiles? _files;
    private AcceleratorChoice? _accel;

    public string InitramfsDirectory { get; } = Path.Combine(cacheDirectory, "initramfs");

    /// <summary>The kernel and initramfs, located and built on first use.</summary>
    public async Task<GuestBootFiles> EnsureAsync(CancellationToken cancellationToken)
    {
        if (_files is { } ready)
        {
            return ready;
        }
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_files is { } again)
            {
                return again;
            }
            var located = locateKernel is null ? GuestKernel.Locate() : locateKernel();
            var initrd = await new InitramfsBuilder(located, busybox).EnsureAsync(InitramfsDirectory, cancellationToken).ConfigureAwait(false);
            _files = new GuestBootFiles(located, initrd);
            return _files;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// <paramref name="forced"/> (a tier's setting, named by <paramref name="setting"/> in errors) when given;
    /// otherwise the probe's answer, asked once (and cached on disk across restarts).
    /// </summary>
    public async Task<AcceleratorChoice> AcceleratorAsync(string? forced, string setting, CancellationToken cancellationToken)
    {
        if (!string.IsNullOrEmpty(forced))
        {
            return Accelerators.IsKnown(forced)
                ? new AcceleratorChoice(forced, "set by configuration")
                : throw new StrataException(ErrorKind.Unavailable, $"accelerator '{forced}' ({setting}) is not kvm or tcg; fix or unset it");
        }
        if (_accel is { } known)
        {
            return known;
        }
        var files = await EnsureAsync(cancellationToken).ConfigureAwait(false);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            _accel ??= await new AcceleratorProbe(cacheDirectory, qemuBinary)
                .ProbeAsync(files.Kernel.KernelPath, files.Initrd, TimeSpan.FromSeconds(4), cancellationToken).ConfigureAwait(false);
            return _accel;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>A configured kernel file: its release from a <c>vmlinuz-RELEASE</c> name, its modules from <c>/lib/modules/RELEASE</c>.</summary>
    public static GuestKernelInfo KernelAt(string path)
    {
        if (!File.Exists(path))
        {
            throw new StrataException(ErrorKind.Unavailable, $"guest kernel {path} does not exist; install {GuestKernel.Package} or fix the configured kernel path");
        }
        var name = Path.GetFileName(path);
        var release = name.StartsWith("vmlinuz-", StringComparison.Ordinal) ? name["vmlinuz-".Length..] : "";
        var modules = Path.Combine("/lib/modules", release);
        return new GuestKernelInfo(path, release, release.Length > 0 && Directory.Exists(modules) ? modules : null);
    }

    public void Dispose() => _gate.Dispose();
}
