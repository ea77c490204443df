using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Contracts.Host;
using Strata.Images;
using Strata.Node.Drivers.Container;
using Strata.Node.Drivers.Sandbox;
using Strata.Node.Drivers.Sandbox.Templates;
using Strata.Node.Guest;
using Strata.Node.Networking;
using Strata.Node.Supervision;
using Strata.Node.Workloads;
using Strata.Qemu;
using Strata.Qemu.Guest;
using Strata.Qemu.Templates;

namespace Strata.Node.Drivers.Vm;

/// <summary>
/// The <c>vm</c> tier: a full QEMU machine (pc) with its own kernel, run by a strata-supervisor (argv = QEMU's), so
/// it outlives the daemon. Two kinds of boot (<see cref="VmKinds"/>): an OCI image as an ext4 disk booted with the
/// guest kernel and Strata's init, or an imported disk image booted by firmware through its own bootloader. Every
/// instance writes to its own qcow2 overlay, which also holds its stateful snapshots (QEMU internal snapshots:
/// memory, devices and disk). See docs/vm.md.
///
/// Guest output: the workload's stdout/stderr ports are QEMU file chardevs on <c>/dev/stdout</c> and
/// <c>/dev/stderr</c>, which are the supervisor's pipes, so they land in the CRI log as separate streams with no
/// extra copying; the control port (exit code) is a file; the serial console is <c>serial.log</c> (OCI) or the
/// stdout stream (disk images, whose console is their only output).
/// </summary>
public sealed partial class VmDriver : IDriver, ISupervisedTier, ISnapshotDriver, ILiveSnapshotDriver, IResizeDriver, IConsoleDriver, IDisposable
{
    public const int MinimumMemoryMiB = TierResizeRange.GuestMinimumMemoryMiB;
    public const int DefaultMemoryMiB = TierResizeRange.GuestDefaultMemoryMiB;
    /// <summary>Exit code of a VM that was stopped and reported no exit of its own (as a SIGTERM'd process: 128 + 15).</summary>
    public const int StoppedExitCode = 143;

    internal const string ConfigFileName = "vm.json";
    internal const string ExitFileName = SupervisedRuntime.ExitFileName;
    internal const string ControlFileName = "control";
    internal const string SerialFileName = "serial.log";
    internal const string QmpSocketName = "qmp.sock";
    internal const string ExecSocketName = "exec.sock";
    internal const string ConsoleSocketName = "console.sock";
    internal const string OverlayFileName = "disk.qcow2";
    internal const string SetupSocketName = GuestTemplate.SetupSocketName;
    private const string StopMarkerName = "stop-requested";
    private const string PoweredOff = "powered-off";
    private const string SnapshotFileName = "vm-snapshot.json";

    private readonly VmDriverOptions _options;
    private readonly ImageStore? _images;
    private readonly VmDiskImages? _disks;
    private readonly SupervisedRuntime _supervised;
    private readonly VmQmpConnections _qmp = new();
    private readonly ConcurrentDictionary<string, byte> _attachedConsoles = new(StringComparer.Ordinal);
    private readonly GuestPipeline _guest;
    private readonly bool _ownsGuest;
    private readonly ILogger _logger;

    public VmDriver(VmDriverOptions options, ImageStore? images, ILogger<VmDriver>? logger = null)
    {
        _options = options;
        _images = images;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _disks = images is null ? null : new VmDiskImages(Path.Combine(images.Root, "disks"));
        _supervised = new SupervisedRuntime(this, "vm", options.Supervisor, options.Launcher, options.KeepSpareSupervisor, logger: _logger);
        _ownsGuest = options.Guest is null;
        _guest = options.Guest ?? new GuestPipeline(options.CacheDirectory, options.QemuBinary,
            options.KernelPath is { } kernel ? () => GuestAssets.KernelAt(kernel) : null);
        Templates = options.Templates ? new SandboxTemplateStore(Path.Combine(options.CacheDirectory, "vm-templates"), _logger, "vm") : null;
    }

    public Tier Tier => Tier.Vm;

    public DriverCapabilities Capabilities { get; } = new()
    {
        Isolation = IsolationLevel.Hardware,
        Snapshots = SnapshotKind.Stateful,
        Networks = true,
        HoldsUntrustedCode = true,
        NeedsImage = true,
        Exec = false,
        LiveResize = true,
        StartLatencyClass = "~5s (TCG)",
    };

    public VmDiskImages? Disks => _disks;

    public async Task<DriverFingerprint> FingerprintAsync(CancellationToken cancellationToken)
    {
        if (_supervised.MissingSupervisor() is { } missing)
        {
            return missing;
        }
        _supervised.PrepareSpare();
        if (FindOnPath(_options.QemuBinary) is null)
        {
            return DriverFingerprint.Unavailable($"{_options.QemuBinary} is not installed; apt-get install qemu-system-x86 qemu-utils");
        }
        try
        {
            var (kernel, _) = await _guest.Assets.EnsureAsync(cancellationToken).ConfigureAwait(false);
            var accel = await AccelAsync(cancellationToken).ConfigureAwait(false);
            return new DriverFingerprint(true, $"QEMU pc machine, {accel.Accel.ToUpperInvariant()} ({accel.Reason}); guest kernel {kernel.Release}; arches: amd64; {Arm64Status()}", "qemu");
        }
        catch (StrataException e)
        {
            return DriverFingerprint.Unavailable(e.Message);
        }
    }

    public async Task<DriverHandle> CreateAsync(CreateRequest request, CancellationToken cancellationToken)
    {
        var spec = request.Spec;
        var memoryMiB = MemoryMiB(spec.Resources?.MemoryBytes);
        var cpus = CpuCount(spec.Resources?.Cpus);
        var arm64 = GuestArch(spec.Requirements?.Arch) == Arm64;
        GuestTierOptions.RefuseHostKernelOptions(spec, "vm");
        if (arm64)
        {
            CheckArm64();
        }
        if (spec.Mounts is { Count: > 0 })
        {
            throw StrataException.Invalid("mounts", "the vm tier cannot share host directories (the guest kernel has no 9p); put the data into the image or use the container tier");
        }
        if (string.IsNullOrWhiteSpace(spec.Image))
        {
            throw StrataException.Invalid("image", "the vm tier boots an image: an OCI image (e.g. busybox) or a disk imported with 'strata image import FILE --kind disk NAME'");
        }
        if (_images is null)
        {
            throw new StrataException(ErrorKind.Unavailable, "the vm tier has no image store in this daemon");
        }
        _supervised.RequireSupervisor();

        var overlay = Path.Combine(request.Directory, OverlayFileName);
        var configPath = Path.Combine(request.Directory, ConfigFileName);
        var data = new Dictionary<string, string>();
        await using var revert = new Revert();
        var accel = (await AccelAsync(cancellationToken).ConfigureAwait(false)).Accel;
        VmConfig config;
        if (_disks?.Find(spec.Image) is { } disk)
        {
            if (arm64)
            {
                throw StrataException.Invalid("requirements.arch", "arm64 VMs boot OCI images only (an arm64 disk needs UEFI firmware, which Strata does not set up); use an arm64 image, e.g. 'strata image build-base busybox --arch arm64'");
            }
            if (JoinsNetwork(spec) is { } refused)
            {
                // A full OS configures its own NIC (DHCP, cloud-init...): Strata's strata.net= reaches only its own init.
                throw StrataException.Invalid(spec.Network is null ? "ports" : "network", $"disk-image VMs do not join networks or publish ports yet (their OS would not configure the address Strata leases); drop {(spec.Network is null ? "-p" : "--network " + refused)}, or boot an OCI image on the vm tier");
            }
            config = new VmConfig
            {
                Kind = VmKinds.Disk,
                BaseDisk = disk.Path,
                BaseFormat = disk.Format,
            };
        }
        else
        {
            var (kernel, initrd) = arm64
                ? await EnsureArm64AssetsAsync(cancellationToken).ConfigureAwait(false)
                : await _guest.Assets.EnsureAsync(cancellationToken).ConfigureAwait(false);
            PreparedRootfs rootfs;
            CreateProgress.Report("image", $"resolving image {spec.Image}");
            try
            {
                rootfs = await _images.PrepareRootfsLayersAsync(spec.Image, cancellationToken).ConfigureAwait(false);
            }
            catch (StrataException e) when (e.Kind == ErrorKind.NotFound)
            {
                throw StrataException.Invalid("image", $"{e.Message}; pull or import it first ('strata image pull {spec.Image}', or 'strata image import FILE --kind disk {spec.Image}' for a disk)");
            }
            var imageArch = string.IsNullOrEmpty(rootfs.Config.Architecture) ? Amd64 : rootfs.Config.Architecture;
            if (imageArch != (arm64 ? Arm64 : Amd64))
            {
                throw StrataException.Invalid("image", arm64
                    ? $"image {spec.Image} is {imageArch}, not arm64; build an arm64 busybox with 'strata image build-base busybox --arch arm64' (named busybox:arm64) or import an arm64 image"
                    : $"image {spec.Image} is {imageArch}; run it with --arch {imageArch} or use an amd64 image");
            }
            var workload = Workload(spec, request.Name, rootfs.Config, rootfs.LayerDirs);
            // One base disk per image, shared with the sandbox tier (docs/vm.md).
            var baseDisk = await _guest.RootDisks.EnsureBaseAsync(rootfs.LayerDirs, rootfs.Image.Id.ToString(), cancellationToken).ConfigureAwait(false);
            var kernelArguments = KernelArgumentsFor(arm64 ? Accelerators.Tcg : accel, workload, arm64, request.Name);
            config = new VmConfig
            {
                Kind = VmKinds.Oci,
                KernelPath = kernel.KernelPath,
                InitrdPath = initrd,
                KernelAppend = kernelArguments.Build(),
                BaseDisk = baseDisk,
                BaseFormat = "raw",
                ImageId = rootfs.Image.Id.ToString(),
                // Templates (VmDriver.Templates.cs): amd64 OCI boots; the setup port is on every start of such a VM.
                GuestWords = arm64 ? null : kernelArguments.GuestWords(),
                SetupPort = !arm64,
                NoTemplate = spec.NoTemplate,
            };
        }
        config = config with
        {
            QemuBinary = arm64 ? _options.Arm64QemuBinary : _options.QemuBinary,
            // arm64 on an amd64 host is always emulated; virt takes no vCPU hot-plug here.
            Machine = arm64 ? "virt" : config.Machine,
            Accel = arm64 ? Accelerators.Tcg : accel,
            CpuModel = arm64 ? null : await _guest.CpuModelAsync(accel, cancellationToken).ConfigureAwait(false),
            Cpus = cpus,
            MaxCpus = arm64 ? cpus : Math.Max(cpus, _options.MaxCpus),
            MemoryMiB = memoryMiB,
            Overlay = overlay,
            Disposable = spec.Disposable,
        };
        _ = BuildArgv(config, request.Directory, loadvmTag: null); // checks socket path lengths and values now
        revert.Add(() => File.Delete(overlay));
        CreateProgress.Report("overlay", "creating the VM's writable disk");
        await CreateOverlayAsync(config, cancellationToken).ConfigureAwait(false);
        if (JoinsNetwork(spec) is { } networkName)
        {
            revert.Add(() => File.Delete(Path.Combine(request.Directory, NamesDiskFileName)));
            CreateProgress.Report("network", $"joining network {networkName}");
            var tap = await NetworkRegistry.AttachTapAsync(_options.Networks, spec, request, networkName,
                Path.Combine(request.Directory, NamesDiskFileName), cancellationToken).ConfigureAwait(false);
            revert.AddAsync(() => _options.Networks!.DetachAsync(request.InstanceId, CancellationToken.None));
            config = config with { Network = tap.Network };
            data[NetworkKey] = tap.Network;
            data[AddressKey] = tap.Address;
        }
        GuestCpuDetails.Add(data, config.Accel, config.CpuModel);
        revert.Add(() => File.Delete(configPath));
        await File.WriteAllBytesAsync(configPath, JsonSerializer.SerializeToUtf8Bytes(config, VmJsonContext.Default.VmConfig), cancellationToken).ConfigureAwait(false);
        LogCreated(request.Name, request.InstanceId, spec.Image, config.Kind, config.Accel, config.MemoryMiB, config.Cpus, config.Network ?? "none");
        revert.Success();
        return new DriverHandle { InstanceId = request.InstanceId, Directory = request.Directory, Data = data };
    }

    /// <summary>Handle keys of a VM on a network (the same keys the container and sandbox tiers use).</summary>
    internal const string NetworkKey = "network";
    internal const string AddressKey = "address";

    /// <summary>The network's hosts list for the guest (docs/network.md), kept up to date by the network registry.</summary>
    internal const string NamesDiskFileName = "names.img";

    private string? JoinsNetwork(InstanceSpec spec) => NetworkRegistry.TapNetworkName(spec, _options.Networks);

    /// <summary>The VM's tap and address, made again when a host reboot removed the tap; null when it joined no network.</summary>
    private async Task<GuestNetwork?> NetworkOfAsync(DriverHandle handle, VmConfig config, CancellationToken cancellationToken)
    {
        if (config.Network is null)
        {
            return null;
        }
        var tap = (_options.Networks is { } networks ? await networks.EnsureTapAttachedAsync(handle.InstanceId, cancellationToken).ConfigureAwait(false) : null)
            ?? throw new StrataException(ErrorKind.Conflict, $"the VM's network membership is gone (network '{config.Network}'); remove and create the VM again");
        var names = Path.Combine(handle.Directory, NamesDiskFileName);
        return new GuestNetwork(tap.Tap, tap.Mac, tap.Address, tap.Prefix, tap.Gateway, File.Exists(names) ? Path.GetFullPath(names) : null);
    }

    /// <summary>Memory in MiB from the spec's bytes; refuses less than a Linux guest can boot with.</summary>
    internal static int MemoryMiB(long? bytes)
    {
        if (bytes is not long b)
        {
            return DefaultMemoryMiB;
        }
        var mib = b / (1024 * 1024);
        if (mib < MinimumMemoryMiB)
        {
            throw StrataException.Invalid("resources.memoryBytes", $"{b} bytes is too little for a VM; give at least {MinimumMemoryMiB} MiB (--memory {MinimumMemoryMiB}M)");
        }
        if (mib > 1024 * 1024)
        {
            throw StrataException.Invalid("resources.memoryBytes", $"{mib} MiB is more than Strata gives one VM (1 TiB)");
        }
        return (int)mib;
    }

    /// <summary>vCPUs from the spec's cores: fractions round up (0.5 → 1 vCPU).</summary>
    internal static int CpuCount(double? cores)
    {
        if (cores is not double c)
        {
            return 1;
        }
        var n = (int)Math.Ceiling(c);
        if (n is < 1 or > 64)
        {
            throw StrataException.Invalid("resources.cpus", $"{c} cores is out of range for a VM (1-64 vCPUs)");
        }
        return n;
    }

    /// <summary>
    /// What the guest's init runs: argv, environment, user, HOME and working directory from <see cref="WorkloadResolver"/>,
    /// the rules every OCI tier shares (docs/workload.md).
    /// </summary>
    internal static GuestWorkload Workload(InstanceSpec spec, string name, ImageConfig image, IReadOnlyList<string>? layers = null)
    {
        var resolved = WorkloadResolver.Resolve(spec, name, image, layers ?? [], TierNames.Vm);
        return new GuestWorkload(resolved.Argv, resolved.EnvMap(), resolved.WorkingDir, resolved.Uid, resolved.Gid, resolved.Home);
    }

    private static KernelArguments KernelArgumentsFor(string accel, GuestWorkload workload, bool arm64, string? name) =>
        new() { Machine = arm64 ? QemuMachine.Virt : QemuMachine.Pc, Accel = accel, Workload = workload, RootDisk = true, Hostname = IsHostname(name) ? name : null };

    private static bool IsHostname(string? name) => name is { Length: > 0 and <= 63 } && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_');

    /// <summary>
    /// How a start differs from a plain cold boot: a template's kernel command line (<see cref="KernelAppend"/>), an
    /// incoming state (<c>-incoming defer</c>), or the guest's output ports as files in the directory (the template
    /// boot, which runs outside a supervisor).
    /// </summary>
    /// <remarks>
    /// A restore (<see cref="Incoming"/>) also gets <see cref="KernelSetup"/>, the kernel's setup sectors alone, in place of
    /// the kernel and initramfs (QEMU would keep both in its heap for as long as it runs; the restored guest never reads
    /// them), and TCG's code buffer at <see cref="GuestTemplate.RestoreTcgCodeBufferMiB"/> (docs/vm.md#templates).
    /// </remarks>
    internal sealed record VmBoot(string? KernelAppend = null, bool Incoming = false, bool OutputFiles = false, string? KernelSetup = null);

    /// <summary>QEMU's argv for this instance (pure).</summary>
    internal static IReadOnlyList<string> BuildArgv(VmConfig config, string directory, string? loadvmTag, GuestNetwork? network = null, VmBoot? boot = null)
    {
        var dir = Path.GetFullPath(directory);
        var oci = config.Kind == VmKinds.Oci;
        var append = boot?.KernelAppend ?? (network is null ? config.KernelAppend : $"{config.KernelAppend} {network.ToKernelArgument()}");
        var stdout = boot?.OutputFiles == true ? Path.Combine(dir, "stdout") : "/dev/stdout";
        var stderr = boot?.OutputFiles == true ? Path.Combine(dir, "stderr") : "/dev/stderr";
        var cmd = new GuestMachine
        {
            Machine = config.Machine switch { "q35" => QemuMachine.Q35, "virt" => QemuMachine.Virt, _ => QemuMachine.Pc },
            QemuBinary = config.QemuBinary,
            Accel = config.Accel,
            CpuModel = config.CpuModel,
            Cpus = config.Cpus,
            MemoryMiB = config.MemoryMiB,
            QmpSocket = Path.Combine(dir, QmpSocketName),
            Balloon = true,
            RootDisk = new QemuDrive(config.Overlay, "qcow2", Id: "root"),
            // A full OS (disk kind) boots through firmware and its own loader; an OCI image with Strata's kernel and init.
            KernelPath = oci ? boot?.KernelSetup ?? config.KernelPath : null,
            InitrdPath = boot?.KernelSetup is null ? config.InitrdPath : null,
            TcgCodeBufferMiB = boot?.Incoming == true ? GuestTemplate.RestoreTcgCodeBufferMiB : null,
            // The address is leased at create and kept until delete, so the argument is the same at every start.
            KernelAppend = append,
            // The supervisor's pipes: guest stdout and stderr reach the CRI log as their own streams.
            Ports = oci ? new GuestPorts(stdout, stderr, Path.Combine(dir, ControlFileName), Path.Combine(dir, ExecSocketName),
                config.SetupPort ? Path.Combine(dir, SetupSocketName) : null) : null,
            Network = network,
        }.ToCommandLine();
        // The serial console is a socket `strata console` attaches to (QEMU serves one client); QEMU also copies
        // everything the guest writes on it to the log, attached or not: serial.log for OCI boots, the supervisor's
        // stdout (the CRI log) for a full OS, whose console is its only output.
        var console = GuestMachine.CheckSocketPath(Path.Combine(dir, ConsoleSocketName));
        var consoleLog = oci ? Path.Combine(dir, SerialFileName) : "/dev/stdout";
        cmd.WithSerialChardev($"socket,path={QemuCommandLine.Escape(console)},server=on,wait=off,logfile={QemuCommandLine.Escape(consoleLog)},logappend=on");
        if (config.MaxCpus > config.Cpus)
        {
            // -smp options merge: this adds room for hot-plugged vCPUs to the count above.
            cmd.AddRawArguments("-smp", $"{config.Cpus.ToString(CultureInfo.InvariantCulture)},maxcpus={config.MaxCpus.ToString(CultureInfo.InvariantCulture)}");
        }
        if (loadvmTag is not null)
        {
            cmd.AddRawArguments("-loadvm", loadvmTag);
        }
        if (boot?.Incoming == true)
        {
            cmd.AddRawArguments("-incoming", "defer");
        }
        return cmd.Build();
    }

    /// <summary>The QEMU argv a start of this instance runs (for comparisons against raw QEMU).</summary>
    public static IReadOnlyList<string> PlanArgv(DriverHandle handle) => BuildArgv(ReadConfig(handle), handle.Directory, loadvmTag: null);

    private Task CreateOverlayAsync(VmConfig config, CancellationToken cancellationToken) =>
        _guest.RootDisks.CreateOverlayAsync(config.BaseDisk, config.BaseFormat, config.Overlay, cancellationToken);

    // ---- helpers ----

    private Task<AcceleratorChoice> AccelAsync(CancellationToken cancellationToken) =>
        _guest.Assets.AcceleratorAsync(_options.Accelerator, "the vm tier's accelerator setting", cancellationToken);

    private static bool IsRunning(DriverHandle handle) =>
        SupervisedRuntime.SupervisorAlive(handle) && !File.Exists(Path.Combine(handle.Directory, ExitFileName));

    internal static string QmpSocket(DriverHandle handle) => Path.Combine(Path.GetFullPath(handle.Directory), QmpSocketName);

    /// <summary>The guest's <c>strata.exec</c> port (OCI boots): a unix socket QEMU serves, one client at a time.</summary>
    public static string ExecSocket(DriverHandle handle) => Path.Combine(Path.GetFullPath(handle.Directory), ExecSocketName);

    private static VmConfig ReadConfig(DriverHandle handle) =>
        TryReadConfig(handle) ?? throw new StrataException(ErrorKind.NotFound, $"the VM's configuration {Path.Combine(handle.Directory, ConfigFileName)} is missing; remove the instance and create it again");

    private static VmConfig? TryReadConfig(DriverHandle handle)
    {
        var path = Path.Combine(handle.Directory, ConfigFileName);
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllBytes(path), VmJsonContext.Default.VmConfig);
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string? FindOnPath(string binary)
    {
        if (binary.Contains('/'))
        {
            return File.Exists(binary) ? binary : null;
        }
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, binary);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        return null;
    }

    public void Dispose()
    {
        _supervised.Dispose();
        _qmp.DisposeAsync().AsTask().GetAwaiter().GetResult();
        if (_ownsGuest)
        {
            _guest.Dispose();
        }
    }
}
