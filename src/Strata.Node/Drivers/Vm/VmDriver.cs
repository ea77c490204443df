using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Images;
using Strata.Node.Drivers.Container;
using Strata.Node.Drivers.Sandbox;
using Strata.Node.Logs;
using Strata.Node.Networking;
using Strata.Node.Supervision;
using Strata.Qemu;
using Strata.Qemu.Guest;

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
public sealed class VmDriver : IDriver, ISnapshotDriver, ILiveSnapshotDriver, IResizeDriver, IConsoleDriver, IDisposable
{
    public const int MinimumMemoryMiB = 64;
    public const int DefaultMemoryMiB = 256;
    /// <summary>Exit code of a VM that was stopped and reported no exit of its own (as a SIGTERM'd process: 128 + 15).</summary>
    public const int StoppedExitCode = 143;

    internal const string ConfigFileName = "vm.json";
    internal const string ExitFileName = "exit.json";
    internal const string ControlFileName = "control";
    internal const string SerialFileName = "serial.log";
    internal const string QmpSocketName = "qmp.sock";
    internal const string ExecSocketName = "exec.sock";
    internal const string ConsoleSocketName = "console.sock";
    internal const string OverlayFileName = "disk.qcow2";
    private const string StopMarkerName = "stop-requested";
    private const string PoweredOff = "powered-off";
    private const string SnapshotFileName = "vm-snapshot.json";

    private readonly VmDriverOptions _options;
    private readonly ImageStore? _images;
    private readonly VmDiskImages? _disks;
    private readonly ExitWatcher _watcher = new();
    private readonly VmQmpConnections _qmp = new();
    private readonly ConcurrentDictionary<string, byte> _attachedConsoles = new(StringComparer.Ordinal);
    private readonly VmRootDisk _rootDisks;
    private readonly string? _supervisor;
    private readonly SemaphoreSlim _assetsGate = new(1, 1);
    private (GuestKernelInfo Kernel, string Initrd)? _assets;
    private AcceleratorChoice? _accel;

    public VmDriver(VmDriverOptions options, ImageStore? images)
    {
        _options = options;
        _images = images;
        _disks = images is null ? null : new VmDiskImages(Path.Combine(images.Root, "disks"));
        _supervisor = options.Supervisor ?? SupervisorLauncher.Locate();
        _rootDisks = new VmRootDisk(Path.Combine(options.CacheDirectory, "disks"));
    }

    public Tier Tier => Tier.Vm;

    public DriverCapabilities Capabilities { get; } = new()
    {
        Isolation = IsolationLevel.Hardware,
        Snapshots = SnapshotKind.Stateful,
        NeedsImage = true,
        Exec = false,
        LiveResize = true,
        StartLatencyClass = "~5s (TCG)",
    };

    public VmDiskImages? Disks => _disks;

    public async Task<DriverFingerprint> FingerprintAsync(CancellationToken cancellationToken)
    {
        if (_supervisor is null || !File.Exists(_supervisor))
        {
            return DriverFingerprint.Unavailable("strata-supervisor was not found next to stratad or on PATH; reinstall Strata (scripts/setup.sh) or pass --supervisor");
        }
        if (FindOnPath(_options.QemuBinary) is null)
        {
            return DriverFingerprint.Unavailable($"{_options.QemuBinary} is not installed; apt-get install qemu-system-x86 qemu-utils");
        }
        try
        {
            var (kernel, _) = await EnsureAssetsAsync(cancellationToken).ConfigureAwait(false);
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
        if (_supervisor is null)
        {
            throw new StrataException(ErrorKind.Unavailable, "strata-supervisor was not found; reinstall Strata or pass --supervisor to stratad");
        }

        var overlay = Path.Combine(request.Directory, OverlayFileName);
        var configPath = Path.Combine(request.Directory, ConfigFileName);
        var data = new Dictionary<string, string>();
        var attached = false;
        try
        {
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
                    : await EnsureAssetsAsync(cancellationToken).ConfigureAwait(false);
                PreparedRootfs rootfs;
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
                var workload = Workload(spec, rootfs.Config, rootfs.LayerDirs);
                var baseDisk = await _rootDisks.EnsureAsync(rootfs, cancellationToken).ConfigureAwait(false);
                config = new VmConfig
                {
                    Kind = VmKinds.Oci,
                    KernelPath = kernel.KernelPath,
                    InitrdPath = initrd,
                    KernelAppend = KernelAppend(arm64 ? Accelerators.Tcg : accel, workload, arm64),
                    BaseDisk = baseDisk,
                    BaseFormat = "raw",
                };
            }
            config = config with
            {
                QemuBinary = arm64 ? _options.Arm64QemuBinary : _options.QemuBinary,
                // arm64 on an amd64 host is always emulated; virt takes no vCPU hot-plug here.
                Machine = arm64 ? "virt" : config.Machine,
                Accel = arm64 ? Accelerators.Tcg : accel,
                Cpus = cpus,
                MaxCpus = arm64 ? cpus : Math.Max(cpus, _options.MaxCpus),
                MemoryMiB = memoryMiB,
                Overlay = overlay,
                Disposable = spec.Disposable,
            };
            _ = BuildArgv(config, request.Directory, loadvmTag: null); // checks socket path lengths and values now
            await CreateOverlayAsync(config, cancellationToken).ConfigureAwait(false);
            if (JoinsNetwork(spec) is { } networkName)
            {
                var tap = await NetworkRegistry.AttachTapAsync(_options.Networks, spec, request, networkName,
                    Path.Combine(request.Directory, NamesDiskFileName), cancellationToken).ConfigureAwait(false);
                attached = true;
                config = config with { Network = tap.Network };
                data[NetworkKey] = tap.Network;
                data[AddressKey] = tap.Address;
            }
            await File.WriteAllBytesAsync(configPath, JsonSerializer.SerializeToUtf8Bytes(config, VmJsonContext.Default.VmConfig), cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            if (attached)
            {
                await _options.Networks!.DetachAsync(request.InstanceId, CancellationToken.None).ConfigureAwait(false);
            }
            File.Delete(overlay);
            File.Delete(configPath);
            File.Delete(Path.Combine(request.Directory, NamesDiskFileName));
            throw;
        }
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

    private (GuestKernelInfo Kernel, string Initrd)? _arm64Assets;

    /// <summary>The arm64 kernel and an initramfs of arm64 busybox, its modules and the same init (cached like amd64's).</summary>
    private async Task<(GuestKernelInfo Kernel, string Initrd)> EnsureArm64AssetsAsync(CancellationToken cancellationToken)
    {
        if (_arm64Assets is { } ready)
        {
            return ready;
        }
        var kernel = _options.Arm64KernelPath is { } path
            ? new GuestKernelInfo(path, Path.GetFileName(path).Replace("vmlinuz-", "", StringComparison.Ordinal), null)
            : Arm64Guest.LocateKernel(_options.Arm64GuestDirectory);
        var busybox = Arm64Guest.LocateBusybox(_options.Arm64GuestDirectory);
        var initrd = await new InitramfsBuilder(kernel, busybox).EnsureAsync(_options.CacheDirectory, cancellationToken).ConfigureAwait(false);
        _arm64Assets = (kernel, initrd);
        return (kernel, initrd);
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
    /// The image's entrypoint, cmd, env, working directory and user, overridden by the spec (Docker's rules); the user
    /// is resolved in the image's /etc/passwd and /etc/group like the container and sandbox tiers do.
    /// </summary>
    internal static GuestWorkload Workload(InstanceSpec spec, ImageConfig image, IReadOnlyList<string>? layers = null)
    {
        layers ??= [];
        var (uid, gid) = spec.Security?.User is { } specUser
            ? BundleBuilder.ResolveUser(specUser, layers)
            : BundleBuilder.ResolveUser(image.User, layers, "image");
        IReadOnlyList<string> argv = spec.Command is { Count: > 0 } command
            ? [.. command, .. spec.Args ?? []]
            : [.. image.Entrypoint, .. spec.Args ?? image.Cmd];
        if (argv.Count == 0)
        {
            throw StrataException.Invalid("command", $"image {spec.Image} has no entrypoint or command; give one, e.g. strata run --tier vm {spec.Image} -- sh -c 'echo hi'");
        }
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in image.Env)
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0)
            {
                env[pair[..eq]] = pair[(eq + 1)..];
            }
        }
        foreach (var (k, v) in spec.Env ?? new Dictionary<string, string>())
        {
            env[k] = v;
        }
        return new GuestWorkload(argv, env, spec.WorkingDir ?? image.WorkingDir, uid, gid, SandboxWorkload.HomeOf(uid, layers));
    }

    private static string KernelAppend(string accel, GuestWorkload workload, bool arm64 = false)
    {
        // virt's serial port is a PL011 (ttyAMA0); it has no TSC to calibrate.
        var append = new StringBuilder(arm64 ? "console=ttyAMA0 quiet panic=-1 reboot=t strata.root=/dev/vda" : "console=ttyS0 quiet panic=-1 reboot=t strata.root=/dev/vda");
        if (!arm64 && accel == Accelerators.Tcg && HostTsc.KHz is long tsc)
        {
            // Under TCG the guest TSC runs at the host's rate; without this the kernel may hang calibrating against the PIT.
            append.Append(" tsc_early_khz=").Append(tsc.ToString(CultureInfo.InvariantCulture));
        }
        append.Append(' ').Append(workload.ToKernelArgument());
        return append.ToString();
    }

    /// <summary>QEMU's argv for this instance (pure).</summary>
    internal static IReadOnlyList<string> BuildArgv(VmConfig config, string directory, string? loadvmTag, GuestNetwork? network = null)
    {
        var dir = Path.GetFullPath(directory);
        foreach (var socket in new[] { QmpSocketName, ExecSocketName, ConsoleSocketName })
        {
            var path = Path.Combine(dir, socket);
            if (path.Length > QemuVm.MaxSocketPath)
            {
                throw StrataException.Invalid("directory", $"{dir} is too long for a unix socket path ({path.Length} > {QemuVm.MaxSocketPath} bytes); use a shorter data root");
            }
        }
        var machine = config.Machine switch { "q35" => QemuMachine.Q35, "virt" => QemuMachine.Virt, _ => QemuMachine.Pc };
        var cmd = new QemuCommandLine(machine)
            .WithBinary(config.QemuBinary)
            .WithAccel(config.Accel)
            .WithCpus(config.Cpus)
            .WithMemoryMiB(config.MemoryMiB)
            .WithQmpSocket(Path.Combine(dir, QmpSocketName))
            .WithBalloon(true)
            .AddDrive(new QemuDrive(config.Overlay, "qcow2", Id: "root"));
        // The serial console is a socket `strata console` attaches to (QEMU serves one client); QEMU also copies
        // everything the guest writes on it to the log, attached or not: serial.log for OCI boots, the supervisor's
        // stdout (the CRI log) for a full OS, whose console is its only output.
        var consoleLog = config.Kind == VmKinds.Oci ? Path.Combine(dir, SerialFileName) : "/dev/stdout";
        cmd.WithSerialChardev($"socket,path={QemuCommandLine.Escape(Path.Combine(dir, ConsoleSocketName))},server=on,wait=off,logfile={QemuCommandLine.Escape(consoleLog)},logappend=on");
        if (config.Kind == VmKinds.Oci)
        {
            // The address is leased at create and kept until delete, so the argument is the same at every start.
            var append = network is null ? config.KernelAppend : $"{config.KernelAppend} {network.ToKernelArgument()}";
            cmd.WithKernel(config.KernelPath!, config.InitrdPath, append)
                // The supervisor's pipes: guest stdout and stderr reach the CRI log as their own streams.
                .AddSerialPort(new VirtioSerialPort(GuestInit.StdoutPort, FilePath: "/dev/stdout"))
                .AddSerialPort(new VirtioSerialPort(GuestInit.StderrPort, FilePath: "/dev/stderr"))
                .AddSerialPort(new VirtioSerialPort(GuestInit.ControlPort, FilePath: Path.Combine(dir, ControlFileName)))
                .AddSerialPort(new VirtioSerialPort(GuestInit.ExecPort, SocketPath: Path.Combine(dir, ExecSocketName)));
        }
        if (network is not null)
        {
            // virtio-net-pci on pc/q35/virt; the same initramfs loads virtio_net and init configures eth0.
            cmd.WithTap(network.Tap, network.Mac);
            if (network.NamesDrive is { } names)
            {
                cmd.AddDrive(names);
            }
        }
        if (config.MaxCpus > config.Cpus)
        {
            // -smp options merge: this adds room for hot-plugged vCPUs to the count above.
            cmd.AddRawArguments("-smp", $"{config.Cpus.ToString(CultureInfo.InvariantCulture)},maxcpus={config.MaxCpus.ToString(CultureInfo.InvariantCulture)}");
        }
        if (loadvmTag is not null)
        {
            cmd.AddRawArguments("-loadvm", loadvmTag);
        }
        return cmd.Build();
    }

    /// <summary>The QEMU argv a start of this instance runs (for comparisons against raw QEMU).</summary>
    public static IReadOnlyList<string> PlanArgv(DriverHandle handle) => BuildArgv(ReadConfig(handle), handle.Directory, loadvmTag: null);

    private static async Task CreateOverlayAsync(VmConfig config, CancellationToken cancellationToken)
    {
        File.Delete(config.Overlay);
        var r = await ExternalTool.RunAsync("qemu-img",
            ["create", "-q", "-f", "qcow2", "-b", Path.GetFullPath(config.BaseDisk), "-F", config.BaseFormat, config.Overlay],
            "qemu-utils", cancellationToken).ConfigureAwait(false);
        if (r.ExitCode != 0)
        {
            throw new StrataException(ErrorKind.Internal, $"qemu-img could not create the overlay on {config.BaseDisk}: {r.Stderr.Trim()}");
        }
    }

    public Task<DriverHandle> StartAsync(DriverHandle handle, CancellationToken cancellationToken) =>
        LaunchAsync(handle, loadvmTag: null, cancellationToken);

    private async Task<DriverHandle> LaunchAsync(DriverHandle handle, string? loadvmTag, CancellationToken cancellationToken)
    {
        if (_supervisor is null)
        {
            throw new StrataException(ErrorKind.Unavailable, "strata-supervisor was not found; reinstall Strata or pass --supervisor to stratad");
        }
        var config = ReadConfig(handle);
        if (!File.Exists(config.BaseDisk))
        {
            throw new StrataException(ErrorKind.NotFound, $"the VM's base disk {config.BaseDisk} is gone; remove the instance and create it again");
        }
        if (config.Kind == VmKinds.Oci && !File.Exists(config.KernelPath))
        {
            var install = config.Machine == "virt" ? Arm64Guest.FetchHint : $"install it with 'apt-get install {GuestKernel.Package}'";
            throw new StrataException(ErrorKind.Unavailable, $"guest kernel {config.KernelPath} is gone; {install} and create the instance again");
        }
        foreach (var stale in new[] { ExitFileName, ControlFileName, StopMarkerName, SerialFileName, QmpSocketName, ExecSocketName, ConsoleSocketName })
        {
            File.Delete(Path.Combine(handle.Directory, stale));
        }
        await _qmp.ForgetAsync(QmpSocket(handle)).ConfigureAwait(false);
        if (config.Disposable && loadvmTag is null)
        {
            // Every run starts from the image again: nothing of the previous run survives.
            await CreateOverlayAsync(config, cancellationToken).ConfigureAwait(false);
        }
        var supervisorConfig = new SupervisorConfig
        {
            Argv = BuildArgv(config, handle.Directory, loadvmTag, await NetworkOfAsync(handle, config, cancellationToken).ConfigureAwait(false)),
            Env = new Dictionary<string, string> { ["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" },
            WorkingDir = handle.Directory,
            LogDirectory = LogFiles.LogDirectory(handle.Directory),
            LogMaxBytes = _options.LogMaxBytes,
            ExitFile = Path.Combine(handle.Directory, ExitFileName),
        };
        var launched = await new SupervisorLauncher(_supervisor).StartAsync(handle.Directory, supervisorConfig, cancellationToken).ConfigureAwait(false);
        return handle with
        {
            Pid = launched.Pid,
            PidStartTicks = launched.PidStartTicks,
            SupervisorPid = launched.SupervisorPid,
            SupervisorStartTicks = launched.SupervisorStartTicks,
        };
    }

    /// <summary>ACPI power button (a full OS shuts down), up to <paramref name="grace"/>; then QMP quit; then SIGKILL.</summary>
    public async Task StopAsync(DriverHandle handle, TimeSpan grace, CancellationToken cancellationToken)
    {
        if (!IsRunning(handle))
        {
            return;
        }
        File.WriteAllText(Path.Combine(handle.Directory, StopMarkerName), "");
        var socket = QmpSocket(handle);
        try
        {
            if (grace > TimeSpan.Zero)
            {
                await _qmp.ExecuteAsync(socket, "system_powerdown", null, TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
                if (await ExitedWithinAsync(handle, grace, cancellationToken).ConfigureAwait(false))
                {
                    File.WriteAllText(Path.Combine(handle.Directory, StopMarkerName), PoweredOff);
                    return;
                }
            }
            try
            {
                await _qmp.ExecuteAsync(socket, "quit", null, TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
            }
            catch (StrataException)
            {
                // QEMU may close the socket while answering quit.
            }
            if (await ExitedWithinAsync(handle, TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false))
            {
                return;
            }
        }
        catch (StrataException) when (!cancellationToken.IsCancellationRequested)
        {
            // QMP unusable (QEMU wedged): kill below.
        }
        if (handle.Pid is { } pid)
        {
            Signals.SendToGroup(pid, Signals.SIGKILL);
        }
    }

    public Task KillAsync(DriverHandle handle, int signal, CancellationToken cancellationToken)
    {
        if (handle.Pid is { } pid && handle.PidStartTicks is { } ticks && ProcessIdentity.IsAlive(pid, ticks))
        {
            Signals.SendToGroup(pid, signal);
        }
        return Task.CompletedTask;
    }

    public async Task<ExitStatus> WaitAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        if (handle.SupervisorPid is not { } sup || handle.SupervisorStartTicks is not { } ticks)
        {
            throw new StrataException(ErrorKind.Internal, "the instance was never started");
        }
        await _watcher.WaitForExitAsync(sup, ticks, cancellationToken).ConfigureAwait(false);
        await _qmp.ForgetAsync(QmpSocket(handle)).ConfigureAwait(false);
        return Outcome(handle) ?? new ExitStatus
        {
            ExitCode = -1,
            Failed = true,
            Reason = "the supervisor ended without recording QEMU's exit",
            FinishedAt = DateTimeOffset.UtcNow,
        };
    }

    /// <summary>How the run ended: the guest's own exit code when its init reported one, else QEMU's outcome.</summary>
    private static ExitStatus? Outcome(DriverHandle handle)
    {
        if (ExitFile.TryRead(Path.Combine(handle.Directory, ExitFileName)) is not { } qemu)
        {
            return null;
        }
        var report = QemuVm.ReadGuestReport(Path.Combine(handle.Directory, ControlFileName));
        if (report.ExitCode is int code)
        {
            return new ExitStatus { ExitCode = code, FinishedAt = qemu.FinishedAt };
        }
        if (qemu.ExitCode != 0 || qemu.Failed)
        {
            return qemu with { Reason = qemu.Reason ?? $"QEMU exited with {qemu.ExitCode}; its message is in the instance's stderr log" };
        }
        var stopped = File.Exists(Path.Combine(handle.Directory, StopMarkerName));
        if (stopped)
        {
            var how = File.ReadAllText(Path.Combine(handle.Directory, StopMarkerName)) == PoweredOff
                ? "stopped: the guest shut down on the ACPI power button"
                : "stopped: QEMU quit after the grace period";
            return new ExitStatus { ExitCode = StoppedExitCode, Reason = how, FinishedAt = qemu.FinishedAt };
        }
        if (report.Failure is { } failure)
        {
            return new ExitStatus { ExitCode = 127, Failed = true, Reason = "guest init failed: " + failure, FinishedAt = qemu.FinishedAt };
        }
        var kind = TryReadConfig(handle)?.Kind;
        return kind == VmKinds.Disk
            ? new ExitStatus { ExitCode = 0, Reason = "the guest powered off", FinishedAt = qemu.FinishedAt }
            : new ExitStatus { ExitCode = -1, Failed = true, Reason = $"the guest ended without reporting an exit code; see {Path.Combine(handle.Directory, SerialFileName)}", FinishedAt = qemu.FinishedAt };
    }

    public async Task<WorkloadStatus> RecoverAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        if (Outcome(handle) is { } exit)
        {
            return new WorkloadStatus(WorkloadPhase.Exited, exit);
        }
        if (handle.SupervisorPid is { } sup && handle.SupervisorStartTicks is { } ticks && ProcessIdentity.IsAlive(sup, ticks))
        {
            // Reattach: QMP answers again from this daemon (QEMU kept running; its one client, the old daemon, is gone).
            try
            {
                await _qmp.ExecuteAsync(QmpSocket(handle), "query-status", null, TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
            }
            catch (StrataException e)
            {
                return new WorkloadStatus(WorkloadPhase.Running, Reason: "QEMU runs but its QMP socket did not answer: " + e.Message);
            }
            return new WorkloadStatus(WorkloadPhase.Running);
        }
        if (handle.Pid is { } pid && handle.PidStartTicks is { } pticks && ProcessIdentity.IsAlive(pid, pticks))
        {
            Signals.SendToGroup(pid, Signals.SIGKILL);
            return new WorkloadStatus(WorkloadPhase.Lost, Reason: "the supervisor was killed; the orphaned QEMU was killed too");
        }
        return new WorkloadStatus(WorkloadPhase.Lost, Reason: "the supervisor disappeared without recording QEMU's exit");
    }

    public async Task DeleteAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        if (_options.Networks is { } networks)
        {
            // Always asked, not only when the config names a network: a create that died between attaching and
            // writing its config must not leave a tap or lease behind.
            await networks.DetachAsync(handle.InstanceId, cancellationToken).ConfigureAwait(false);
        }
        await _qmp.ForgetAsync(QmpSocket(handle)).ConfigureAwait(false);
        foreach (var name in new[] { OverlayFileName, QmpSocketName, ExecSocketName, ConsoleSocketName, ControlFileName, SerialFileName, NamesDiskFileName })
        {
            File.Delete(Path.Combine(handle.Directory, name));
        }
    }

    // ---- console ----

    /// <summary>
    /// Connects to the serial console's socket. QEMU serves one client at a time (a second would wait unanswered),
    /// so a second attach through this daemon is refused; the log keeps the output either way.
    /// </summary>
    public async Task<Stream> OpenConsoleAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        if (!IsRunning(handle))
        {
            throw StrataException.Conflict("the VM is not running; start it first");
        }
        var path = Path.Combine(Path.GetFullPath(handle.Directory), ConsoleSocketName);
        if (!File.Exists(path))
        {
            throw StrataException.Conflict("this VM was started without a console socket (by an older Strata); restart it to attach");
        }
        if (!_attachedConsoles.TryAdd(path, 0))
        {
            throw StrataException.Conflict("someone is already attached to this VM's console; the serial console serves one client (detach the other with Ctrl-])");
        }
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken).ConfigureAwait(false);
            return new ConsoleStream(socket, () => _attachedConsoles.TryRemove(path, out _));
        }
        catch (SocketException e)
        {
            socket.Dispose();
            _attachedConsoles.TryRemove(path, out _);
            throw StrataException.Conflict($"the VM's console did not answer ({e.Message}); is QEMU still running?");
        }
        catch
        {
            socket.Dispose();
            _attachedConsoles.TryRemove(path, out _);
            throw;
        }
    }

    /// <summary>The console connection; disposing it detaches (and frees the one attach slot).</summary>
    private sealed class ConsoleStream(Socket socket, Action detached) : NetworkStream(socket, ownsSocket: true)
    {
        private int _disposed;

        protected override void Dispose(bool disposing)
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                detached();
            }
            base.Dispose(disposing);
        }
    }

    // ---- snapshots ----

    /// <summary>
    /// QEMU <c>savevm</c>: memory, device state and disk go into the overlay as an internal snapshot; the VM pauses
    /// for the save and runs on afterwards. The snapshot directory only names it.
    /// </summary>
    public async Task<SnapshotDetails> SnapshotAsync(DriverHandle handle, string directory, CancellationToken cancellationToken)
    {
        if (!IsRunning(handle))
        {
            throw StrataException.Conflict("a VM snapshot captures memory and devices, so the VM must be running; start it first");
        }
        var tag = "strata-" + Path.GetFileName(Path.TrimEndingDirectorySeparator(directory));
        var config = ReadConfig(handle);
        var before = new FileInfo(config.Overlay).Length;
        var socket = QmpSocket(handle);
        await _qmp.HumanAsync(socket, "delvm " + tag, cancellationToken).ConfigureAwait(false); // leftovers of an unfinished attempt
        var output = await _qmp.HumanAsync(socket, "savevm " + tag, cancellationToken).ConfigureAwait(false);
        if (!await HasSnapshotAsync(socket, tag, cancellationToken).ConfigureAwait(false))
        {
            throw StrataException.Conflict($"QEMU could not save the VM: {output.Trim()}");
        }
        await File.WriteAllBytesAsync(Path.Combine(directory, SnapshotFileName),
            JsonSerializer.SerializeToUtf8Bytes(new VmSnapshotRecord { Tag = tag, TakenAt = DateTimeOffset.UtcNow }, VmJsonContext.Default.VmSnapshotRecord),
            cancellationToken).ConfigureAwait(false);
        var size = Math.Max(0, new FileInfo(config.Overlay).Length - before);
        return new SnapshotDetails(SnapshotKind.Stateful, size, $"memory, devices and disk of the running VM (internal snapshot {tag} in its overlay)");
    }

    /// <summary>Starts the stopped VM straight into the saved moment (<c>-loadvm</c>).</summary>
    public Task<DriverHandle> RestoreAsync(DriverHandle handle, string directory, CancellationToken cancellationToken)
    {
        var tag = ReadSnapshot(directory).Tag;
        return LaunchAsync(handle, tag, cancellationToken);
    }

    /// <summary><c>loadvm</c> on the running VM: it continues from the saved moment, without a reboot.</summary>
    public async Task RestoreRunningAsync(DriverHandle handle, string directory, CancellationToken cancellationToken)
    {
        var tag = ReadSnapshot(directory).Tag;
        if (!IsRunning(handle))
        {
            throw StrataException.Conflict("the VM is not running; restore starts it from the snapshot instead");
        }
        var socket = QmpSocket(handle);
        if (!await HasSnapshotAsync(socket, tag, cancellationToken).ConfigureAwait(false))
        {
            throw StrataException.NotFound($"the VM's disk no longer holds snapshot {tag} (a disposable VM's snapshots end with its run)");
        }
        var output = await _qmp.HumanAsync(socket, "loadvm " + tag, cancellationToken).ConfigureAwait(false);
        if (output.Contains("Error", StringComparison.OrdinalIgnoreCase))
        {
            throw new StrataException(ErrorKind.Internal, $"QEMU could not load snapshot {tag}: {output.Trim()}");
        }
        var status = await _qmp.ExecuteAsync(socket, "query-status", null, TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
        if (status.TryGetProperty("running", out var running) && !running.GetBoolean())
        {
            await _qmp.ExecuteAsync(socket, "cont", null, TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task DeleteSnapshotAsync(DriverHandle handle, string directory, bool running, CancellationToken cancellationToken)
    {
        if (!File.Exists(Path.Combine(directory, SnapshotFileName)))
        {
            return;
        }
        var tag = ReadSnapshot(directory).Tag;
        if (IsRunning(handle))
        {
            await _qmp.HumanAsync(QmpSocket(handle), "delvm " + tag, cancellationToken).ConfigureAwait(false);
        }
        else if (TryReadConfig(handle) is { } config && File.Exists(config.Overlay))
        {
            await ExternalTool.RunAsync("qemu-img", ["snapshot", "-d", tag, config.Overlay], "qemu-utils", cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<bool> HasSnapshotAsync(string socket, string tag, CancellationToken cancellationToken)
    {
        var list = await _qmp.HumanAsync(socket, "info snapshots", cancellationToken).ConfigureAwait(false);
        return list.Split('\n').Any(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Contains(tag, StringComparer.Ordinal));
    }

    private static VmSnapshotRecord ReadSnapshot(string directory)
    {
        var path = Path.Combine(directory, SnapshotFileName);
        if (!File.Exists(path))
        {
            throw StrataException.NotFound($"{directory} is not a VM snapshot");
        }
        return JsonSerializer.Deserialize(File.ReadAllBytes(path), VmJsonContext.Default.VmSnapshotRecord)
            ?? throw new StrataException(ErrorKind.Internal, $"{path} is empty");
    }

    // ---- live resize ----

    /// <summary>
    /// Memory through the virtio balloon (between <see cref="MinimumMemoryMiB"/> and the boot size: a balloon only
    /// gives back what the VM booted with); vCPUs by hot-plugging CPUs up to the boot-time maximum (removing is not
    /// supported).
    /// </summary>
    public async Task<ResizeResult> ResizeAsync(DriverHandle handle, long? memoryBytes, int? cpus, CancellationToken cancellationToken)
    {
        if (!IsRunning(handle))
        {
            throw StrataException.Conflict("resize changes a running VM; start it first (or recreate it with other --memory/--cpus)");
        }
        var config = ReadConfig(handle);
        var socket = QmpSocket(handle);
        var maxBytes = (long)config.MemoryMiB * 1024 * 1024;
        string? note = null;
        if (memoryBytes is long mem)
        {
            if (mem < MinimumMemoryMiB * 1024L * 1024 || mem > maxBytes)
            {
                throw StrataException.Invalid("memoryBytes", $"memory can change between {MinimumMemoryMiB} MiB and the {config.MemoryMiB} MiB the VM booted with (the balloon cannot add memory beyond that)");
            }
            await _qmp.ExecuteAsync(socket, "balloon", new JsonObject { ["value"] = mem }, TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
        }
        var current = await CpuCountAsync(socket, cancellationToken).ConfigureAwait(false);
        if (cpus is int want && want != current)
        {
            if (want < current)
            {
                throw StrataException.Invalid("cpus", $"vCPUs can only be added while the VM runs ({current} now); removing them is not supported");
            }
            if (want > config.MaxCpus)
            {
                throw StrataException.Invalid("cpus", $"this VM can grow to {config.MaxCpus} vCPUs (set when it was created)");
            }
            current = await HotAddCpusAsync(socket, want - current, cancellationToken).ConfigureAwait(false);
            note = "new vCPUs are plugged in; a guest without a CPU-online rule brings them up with 'echo 1 > /sys/devices/system/cpu/cpuN/online'";
        }
        var balloon = await _qmp.ExecuteAsync(socket, "query-balloon", null, TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
        var actual = balloon.TryGetProperty("actual", out var a) ? a.GetInt64() : maxBytes;
        return new ResizeResult(actual, maxBytes, current, config.MaxCpus, note);
    }

    private async Task<int> CpuCountAsync(string socket, CancellationToken cancellationToken)
    {
        var list = await _qmp.ExecuteAsync(socket, "query-cpus-fast", null, TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
        return list.GetArrayLength();
    }

    private async Task<int> HotAddCpusAsync(string socket, int count, CancellationToken cancellationToken)
    {
        var slots = await _qmp.ExecuteAsync(socket, "query-hotpluggable-cpus", null, TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
        var free = slots.EnumerateArray().Where(s => !s.TryGetProperty("qom-path", out _)).Reverse().Take(count).ToList();
        foreach (var slot in free)
        {
            var args = new JsonObject { ["driver"] = slot.GetProperty("type").GetString() };
            var id = new StringBuilder("cpu");
            foreach (var prop in slot.GetProperty("props").EnumerateObject())
            {
                args[prop.Name] = prop.Value.GetInt64();
                id.Append('-').Append(prop.Value.GetInt64().ToString(CultureInfo.InvariantCulture));
            }
            args["id"] = id.ToString();
            await _qmp.ExecuteAsync(socket, "device_add", args, TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
        }
        return await CpuCountAsync(socket, cancellationToken).ConfigureAwait(false);
    }

    // ---- helpers ----

    private async Task<(GuestKernelInfo Kernel, string Initrd)> EnsureAssetsAsync(CancellationToken cancellationToken)
    {
        await _assetsGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_assets is { } assets)
            {
                return assets;
            }
            GuestKernelInfo kernel;
            if (_options.KernelPath is { } path)
            {
                if (!File.Exists(path))
                {
                    throw new StrataException(ErrorKind.Unavailable, $"guest kernel {path} does not exist; install {GuestKernel.Package} or fix the configured kernel path");
                }
                var release = Path.GetFileName(path).StartsWith("vmlinuz-", StringComparison.Ordinal) ? Path.GetFileName(path)["vmlinuz-".Length..] : "";
                var modules = Path.Combine("/lib/modules", release);
                kernel = new GuestKernelInfo(path, release, release.Length > 0 && Directory.Exists(modules) ? modules : null);
            }
            else
            {
                kernel = GuestKernel.Locate();
            }
            var initrd = await new InitramfsBuilder(kernel).EnsureAsync(_options.CacheDirectory, cancellationToken).ConfigureAwait(false);
            _assets = (kernel, initrd);
            return _assets.Value;
        }
        finally
        {
            _assetsGate.Release();
        }
    }

    private async Task<AcceleratorChoice> AccelAsync(CancellationToken cancellationToken)
    {
        if (_options.Accel is { } forced)
        {
            return new AcceleratorChoice(forced, "configured");
        }
        if (_accel is { } known)
        {
            return known;
        }
        var (kernel, initrd) = await EnsureAssetsAsync(cancellationToken).ConfigureAwait(false);
        _accel = await new AcceleratorProbe(_options.CacheDirectory, _options.QemuBinary)
            .ProbeAsync(kernel.KernelPath, initrd, TimeSpan.FromSeconds(4), cancellationToken).ConfigureAwait(false);
        return _accel;
    }

    private static bool IsRunning(DriverHandle handle) =>
        handle.SupervisorPid is { } sup && handle.SupervisorStartTicks is { } ticks && ProcessIdentity.IsAlive(sup, ticks)
        && !File.Exists(Path.Combine(handle.Directory, ExitFileName));

    private async Task<bool> ExitedWithinAsync(DriverHandle handle, TimeSpan time, CancellationToken cancellationToken)
    {
        if (handle.SupervisorPid is not { } sup || handle.SupervisorStartTicks is not { } ticks)
        {
            return true;
        }
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(time);
        try
        {
            await _watcher.WaitForExitAsync(sup, ticks, deadline.Token).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

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
        _watcher.Dispose();
        _qmp.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _assetsGate.Dispose();
    }
}

public sealed record VmDriverOptions
{
    /// <summary>Initramfs, accelerator probe and per-image ext4 bases (<c>&lt;root&gt;/cache/vm</c>).</summary>
    public required string CacheDirectory { get; init; }
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
}
