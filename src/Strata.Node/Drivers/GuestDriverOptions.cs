using Strata.Node.Guest;
using Strata.Node.Networking;
using Strata.Node.Supervision;

namespace Strata.Node.Drivers;

/// <summary>
/// What the tiers with a guest kernel (sandbox, vm) are configured with alike: the guest pipeline and its cache, the
/// emulator, the accelerator, the supervisor, the log bound and the node's networks. Each tier's options add only
/// their own (<see cref="Sandbox.SandboxDriverOptions"/>, <see cref="Vm.VmDriverOptions"/>).
/// </summary>
public abstract record GuestDriverOptions
{
    /// <summary>Where the driver's own <see cref="GuestPipeline"/> keeps its initramfs, base disks and accelerator answer when <see cref="Guest"/> is not given.</summary>
    public required string CacheDirectory { get; init; }
    /// <summary>
    /// The guest pipeline (kernel, initramfs, accelerator, per-image base disks) shared by the sandbox and vm tiers;
    /// the daemon gives one for both (<c>&lt;root&gt;/cache/guest</c>). Null: the driver's own under
    /// <see cref="CacheDirectory"/>, from <see cref="QemuBinary"/> and the tier's kernel setting.
    /// </summary>
    public GuestPipeline? Guest { get; init; }
    public string? Supervisor { get; init; }
    public long LogMaxBytes { get; init; } = 10 * 1024 * 1024;
    public string QemuBinary { get; init; } = "qemu-system-x86_64";
    /// <summary><c>kvm</c> or <c>tcg</c> to skip the probe; null: probe once (cached in the guest pipeline's directory).</summary>
    public string? Accelerator { get; init; }
    /// <summary>The node's networks, for <c>--network NAME</c> (a tap on the bridge). Null: guests join no network.</summary>
    public NetworkRegistry? Networks { get; init; }
    /// <summary>Keep one supervisor started ahead of time for the next run (the daemon does; see SupervisorLauncher).</summary>
    public bool KeepSpareSupervisor { get; init; }
    /// <summary>The daemon's launcher, shared by its supervised tiers (one standby supervisor for all); null: the driver's own.</summary>
    public SupervisorLauncher? Launcher { get; init; }
}
