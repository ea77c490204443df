using Strata.Qemu.Guest;

namespace Strata.Node.Guest;

/// <summary>
/// The guest pipeline of one daemon: boot assets and per-image base disks, shared by the sandbox and vm tiers, under
/// one cache directory (the daemon's <c>&lt;root&gt;/cache/guest</c>: <c>initramfs/</c>, <c>disks/</c>,
/// <c>accel-probe.json</c>). A driver given none makes its own under its cache directory.
/// </summary>
public sealed class GuestPipeline(string cacheDirectory, string qemuBinary = "qemu-system-x86_64", Func<GuestKernelInfo>? locateKernel = null, string busybox = "/bin/busybox") : IDisposable
{
    public string CacheDirectory { get; } = cacheDirectory;
    public GuestAssets Assets { get; } = new(cacheDirectory, qemuBinary, locateKernel, busybox);
    public GuestRootDisks RootDisks { get; } = new(Path.Combine(cacheDirectory, "disks"));

    /// <summary>
    /// Set by a cluster node: the CPU model KVM guests start with (the cluster's baseline, docs/cluster.md "CPU
    /// baseline"); null (a standalone daemon, or no baseline): <c>host</c>.
    /// </summary>
    public Func<CancellationToken, Task<string?>>? ClusterCpuModel { get; set; }

    /// <summary>The <c>-cpu</c> model a new guest under <paramref name="accel"/> gets: the cluster's under KVM, else none.</summary>
    public async Task<string?> CpuModelAsync(string accel, CancellationToken cancellationToken) =>
        accel == Strata.Qemu.Accelerators.Kvm && ClusterCpuModel is { } model ? await model(cancellationToken).ConfigureAwait(false) : null;

    public void Dispose() => Assets.Dispose();
}
