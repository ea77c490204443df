using System.Globalization;
using System.Text;
using Strata.Contracts;

namespace Strata.Qemu;

/// <summary>QEMU machine types Strata uses.</summary>
public enum QemuMachine
{
    /// <summary>Firecracker-like: virtio-mmio devices (described to the guest by ACPI), no PCI, no firmware.</summary>
    Microvm = 1,
    /// <summary>Modern PC (PCIe), for full OS images.</summary>
    Q35 = 2,
    /// <summary>Classic i440FX PC.</summary>
    Pc = 3,
    /// <summary>QEMU's arm64 <c>virt</c> board (qemu-system-aarch64): PL011 serial (ttyAMA0), PCIe for virtio devices.</summary>
    Virt = 4,
}

/// <summary>Accelerator names as QEMU spells them.</summary>
public static class Accelerators
{
    public const string Kvm = "kvm";
    public const string Tcg = "tcg";

    public static bool IsKnown(string accel) => accel is Kvm or Tcg;
}

/// <summary>A disk attached as virtio-blk.</summary>
public sealed record QemuDrive(string Path, string Format = "raw", bool ReadOnly = false, string? Id = null, string? Serial = null);

/// <summary>Where a virtio-serial port's host side goes: a file the guest writes to, or a unix server socket.</summary>
public sealed record VirtioSerialPort(string Name, string? FilePath = null, string? SocketPath = null);

/// <summary>A directory shared into the guest over virtio-9p (needs a guest kernel with 9p; Debian's cloud kernel has none).</summary>
public sealed record NinePShare(string Tag, string HostPath, bool ReadOnly = true);

/// <summary>
/// A directory shared into the guest over virtio-fs: a virtiofsd (started by the caller, see
/// <see cref="VirtioFsDaemon"/>) serves it on <paramref name="SocketPath"/>; the guest mounts it as
/// <c>mount -t virtiofs TAG DIR</c>. Needs guest RAM QEMU can share with virtiofsd, which
/// <see cref="QemuCommandLine.Build"/> then sets up (a memfd memory backend).
/// </summary>
public sealed record VirtioFsShare(string Tag, string SocketPath);

/// <summary>
/// Builds QEMU's argv. Pure: it checks values and produces strings, it touches no file.
/// Device names follow the machine: <c>virtio-*-device</c> (mmio) on microvm, <c>virtio-*-pci</c> otherwise.
/// </summary>
public sealed class QemuCommandLine
{
    private readonly List<QemuDrive> _drives = [];
    private readonly List<VirtioSerialPort> _ports = [];
    private readonly List<NinePShare> _shares = [];
    private readonly List<VirtioFsShare> _fsShares = [];
    private readonly List<string> _extra = [];

    public QemuCommandLine(QemuMachine machine) => Machine = machine;

    public QemuMachine Machine { get; }
    public string Binary { get; private set; } = "qemu-system-x86_64";
    public string Accel { get; private set; } = Accelerators.Tcg;
    public int Cpus { get; private set; } = 1;
    /// <summary>Under KVM, the named CPU model (a cluster's baseline, docs/cluster.md "CPU baseline"); null: <c>host</c>.</summary>
    public string? CpuModel { get; private set; }
    public int MemoryMiB { get; private set; } = 256;
    public string? Kernel { get; private set; }
    public string? Initrd { get; private set; }
    public string? Append { get; private set; }
    public string? SerialFile { get; private set; }
    public string? SerialChardev { get; private set; }
    public string? QmpSocket { get; private set; }
    public string? PidFile { get; private set; }
    public uint? VsockCid { get; private set; }
    public bool Balloon { get; private set; }
    /// <summary>The balloon offers free-page reporting: the guest hands pages it freed back to the host (QEMU discards them).</summary>
    public bool FreePageReporting { get; private set; }
    /// <summary>Under TCG, the translated-code buffer's size in MiB (<c>tb-size</c>); null: QEMU's default (1 GiB).</summary>
    public int? TcgCodeBufferMiB { get; private set; }
    public bool NoReboot { get; private set; } = true;
    public IReadOnlyList<QemuDrive> Drives => _drives;
    public IReadOnlyList<VirtioSerialPort> SerialPorts => _ports;

    public QemuCommandLine WithBinary(string binary) { Binary = NotEmpty(binary, nameof(binary)); return this; }

    public QemuCommandLine WithAccel(string accel)
    {
        if (!Accelerators.IsKnown(accel))
        {
            throw StrataException.Invalid("accel", $"'{accel}' is not an accelerator Strata uses; use kvm or tcg");
        }
        Accel = accel;
        return this;
    }

    public QemuCommandLine WithCpus(int cpus)
    {
        if (cpus is < 1 or > 256)
        {
            throw StrataException.Invalid("cpus", $"{cpus} vCPUs is out of range (1-256)");
        }
        Cpus = cpus;
        return this;
    }

    /// <summary>
    /// The CPU model a KVM guest gets instead of <c>host</c> (null keeps <c>host</c>); under TCG QEMU's default model
    /// is kept, the same on every host.
    /// </summary>
    public QemuCommandLine WithCpuModel(string? model)
    {
        if (model is not null && (model.Length == 0 || !model.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')))
        {
            throw StrataException.Invalid("cpu", $"'{model}' is not a QEMU CPU model name (letters, digits, '-', '_', '.')");
        }
        CpuModel = model;
        return this;
    }

    public QemuCommandLine WithMemoryMiB(int mib)
    {
        if (mib < 32)
        {
            throw StrataException.Invalid("memory", $"{mib} MiB is too little for a Linux guest; give at least 32 MiB");
        }
        MemoryMiB = mib;
        return this;
    }

    /// <summary>Direct kernel boot (no firmware boot menu, no bootloader).</summary>
    public QemuCommandLine WithKernel(string kernel, string? initrd = null, string? append = null)
    {
        Kernel = NotEmpty(kernel, nameof(kernel));
        Initrd = initrd;
        Append = append;
        return this;
    }

    /// <summary>The first serial port (ttyS0, the kernel console) goes to a file.</summary>
    public QemuCommandLine WithSerialFile(string path) { SerialFile = NotEmpty(path, nameof(path)); SerialChardev = null; return this; }

    /// <summary>The first serial port goes to a chardev given in QEMU syntax, e.g. <c>stdio</c> or <c>socket,path=X,server=on,wait=off</c>.</summary>
    public QemuCommandLine WithSerialChardev(string chardevBackend) { SerialChardev = NotEmpty(chardevBackend, nameof(chardevBackend)); SerialFile = null; return this; }

    public QemuCommandLine WithQmpSocket(string path) { QmpSocket = NotEmpty(path, nameof(path)); return this; }

    public QemuCommandLine WithPidFile(string path) { PidFile = NotEmpty(path, nameof(path)); return this; }

    /// <summary>Whether a guest reboot ends QEMU (the default: a finished workload reboots to exit).</summary>
    public QemuCommandLine WithNoReboot(bool noReboot) { NoReboot = noReboot; return this; }

    public QemuCommandLine AddDrive(QemuDrive drive)
    {
        ArgumentNullException.ThrowIfNull(drive);
        NotEmpty(drive.Path, "drive.path");
        if (drive.Format is not ("raw" or "qcow2"))
        {
            throw StrataException.Invalid("drive.format", $"'{drive.Format}' is not supported; use raw or qcow2");
        }
        _drives.Add(drive);
        return this;
    }

    public QemuCommandLine AddSerialPort(VirtioSerialPort port)
    {
        ArgumentNullException.ThrowIfNull(port);
        NotEmpty(port.Name, "port.name");
        if ((port.FilePath is null) == (port.SocketPath is null))
        {
            throw StrataException.Invalid("port", $"virtio-serial port '{port.Name}' needs exactly one of a file or a socket");
        }
        if (_ports.Any(p => p.Name == port.Name))
        {
            throw StrataException.Invalid("port.name", $"virtio-serial port '{port.Name}' is added twice");
        }
        _ports.Add(port);
        return this;
    }

    /// <summary>A vhost-vsock device with the given guest CID (3 or more; 0-2 are reserved).</summary>
    public QemuCommandLine WithVsock(uint guestCid)
    {
        if (guestCid < 3)
        {
            throw StrataException.Invalid("vsock.cid", $"guest CID {guestCid} is reserved; use 3 or more");
        }
        VsockCid = guestCid;
        return this;
    }

    public QemuCommandLine Add9pShare(NinePShare share)
    {
        ArgumentNullException.ThrowIfNull(share);
        NotEmpty(share.Tag, "share.tag");
        NotEmpty(share.HostPath, "share.hostPath");
        _shares.Add(share);
        return this;
    }

    public QemuCommandLine AddVirtioFsShare(VirtioFsShare share)
    {
        ArgumentNullException.ThrowIfNull(share);
        NotEmpty(share.Tag, "share.tag");
        NotEmpty(share.SocketPath, "share.socketPath");
        if (_fsShares.Any(s => s.Tag == share.Tag))
        {
            throw StrataException.Invalid("share.tag", $"virtio-fs tag '{share.Tag}' is added twice");
        }
        _fsShares.Add(share);
        return this;
    }

    public IReadOnlyList<VirtioFsShare> VirtioFsShares => _fsShares;

    /// <summary>
    /// Empty PCIe root ports (ids <see cref="HotplugSlotId"/>) a virtio-fs share can be plugged into while the guest runs
    /// (<see cref="Templates.GuestTemplate.PlugSharesAsync"/>): microvm only, which then gets its PCIe host (<c>pcie=on</c>).
    /// Its virtio-mmio slots cannot take a device later: the guest learns of them once, from ACPI, at boot.
    /// </summary>
    public QemuCommandLine WithHotplugSlots(int slots)
    {
        if (slots is < 0 or > 16)
        {
            throw StrataException.Invalid("mounts", $"{slots} hot-plug slots is out of range (0-16)");
        }
        if (slots > 0 && Machine != QemuMachine.Microvm)
        {
            throw StrataException.Invalid("machine", "hot-plug slots for shares are made on microvm only");
        }
        HotplugSlots = slots;
        return this;
    }

    public int HotplugSlots { get; private set; }

    /// <summary>The QEMU id of hot-plug slot <paramref name="index"/> (a PCIe root port).</summary>
    public static string HotplugSlotId(int index) => "hp" + index.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// A virtio balloon; with <paramref name="freePageReporting"/> the guest reports pages it freed and QEMU discards
    /// them (punched out of a file-backed RAM's file: never on RAM mapped privately from a file others map too).
    /// </summary>
    public QemuCommandLine WithBalloon(bool balloon = true, bool freePageReporting = false)
    {
        Balloon = balloon;
        FreePageReporting = balloon && freePageReporting;
        return this;
    }

    /// <summary>
    /// Under TCG, caps the buffer of translated guest code at <paramref name="mib"/> MiB (QEMU flushes it when full). It is
    /// resident memory of every QEMU: an idle guest's translations fill tens of MiB of QEMU's default 1 GiB buffer.
    /// Null: QEMU's default. Ignored under KVM.
    /// </summary>
    public QemuCommandLine WithTcgCodeBuffer(int? mib)
    {
        if (mib is < 1 or > 2048)
        {
            throw StrataException.Invalid("tcg.tb-size", $"{mib} MiB is out of range for TCG's code buffer (1-2048)");
        }
        TcgCodeBufferMiB = mib;
        return this;
    }

    /// <summary>A virtio-net NIC on an existing tap device (made and bridged by the host; QEMU runs no scripts).</summary>
    public QemuCommandLine WithTap(string tap, string mac)
    {
        Tap = NotEmpty(tap, nameof(tap));
        Mac = NotEmpty(mac, nameof(mac));
        return this;
    }

    public string? Tap { get; private set; }
    public string? Mac { get; private set; }

    /// <summary>Raw arguments appended last, for what the builder does not model.</summary>
    public QemuCommandLine AddRawArguments(params string[] args) { _extra.AddRange(args); return this; }

    /// <summary>The full argv; element 0 is the QEMU binary.</summary>
    public IReadOnlyList<string> Build()
    {
        var a = new List<string> { Binary };
        var machine = Machine switch
        {
            QemuMachine.Microvm => "microvm",
            QemuMachine.Q35 => "q35",
            QemuMachine.Pc => "pc",
            QemuMachine.Virt => "virt",
            _ => throw new ArgumentOutOfRangeException(nameof(Machine)),
        };
        // vhost-user devices (virtiofsd) map guest RAM into another process, so RAM must be a shareable memfd.
        a.AddRange(["-M", machine + (HotplugSlots > 0 ? ",pcie=on" : "") + (_fsShares.Count > 0 ? ",memory-backend=mem0" : "")]);
        a.AddRange(["-accel", Accel == Accelerators.Tcg && TcgCodeBufferMiB is int tb ? $"{Accel},tb-size={tb.ToString(CultureInfo.InvariantCulture)}" : Accel]);
        if (Accel == Accelerators.Kvm)
        {
            a.AddRange(["-cpu", CpuModel ?? "host"]);
        }
        else if (Machine == QemuMachine.Virt)
        {
            // virt's default CPU is a 32-bit cortex-a15; an arm64 kernel needs a 64-bit core.
            a.AddRange(["-cpu", "cortex-a57"]);
        }
        a.AddRange(["-smp", Cpus.ToString(CultureInfo.InvariantCulture)]);
        a.AddRange(["-m", GuestRam.Size(MemoryMiB)]); // off the 256 KiB grid: GuestRam
        a.AddRange(["-nodefaults", "-no-user-config", "-nographic"]);
        if (_fsShares.Count > 0)
        {
            a.AddRange(["-object", $"memory-backend-memfd,id=mem0,size={GuestRam.Size(MemoryMiB)},share=on"]);
            if (Machine == QemuMachine.Microvm)
            {
                // virtiofsd (libvhost-user) refuses legacy virtio, microvm's default for virtio-mmio.
                a.AddRange(["-global", "virtio-mmio.force-legacy=false"]);
            }
        }
        if (NoReboot)
        {
            a.Add("-no-reboot");
        }
        if (Kernel is not null)
        {
            a.AddRange(["-kernel", Kernel]);
            if (Initrd is not null)
            {
                a.AddRange(["-initrd", Initrd]);
            }
            if (!string.IsNullOrEmpty(Append))
            {
                a.AddRange(["-append", Append]);
            }
        }
        if (SerialFile is not null)
        {
            a.AddRange(["-chardev", $"file,id=serial0,path={Escape(SerialFile)}", "-serial", "chardev:serial0"]);
        }
        else if (SerialChardev is not null)
        {
            a.AddRange(["-chardev", $"{SerialChardev},id=serial0", "-serial", "chardev:serial0"]);
        }
        if (QmpSocket is not null)
        {
            a.AddRange(["-qmp", $"unix:{Escape(QmpSocket)},server=on,wait=off"]);
        }
        if (PidFile is not null)
        {
            a.AddRange(["-pidfile", PidFile]);
        }
        for (var i = 0; i < _drives.Count; i++)
        {
            var d = _drives[i];
            var id = d.Id ?? $"drive{i}";
            var drive = new StringBuilder($"file={Escape(d.Path)},format={d.Format},if=none,id={id}");
            if (d.ReadOnly)
            {
                drive.Append(",readonly=on");
            }
            a.AddRange(["-drive", drive.ToString()]);
            var dev = $"{Device("virtio-blk")},drive={id}";
            if (d.Serial is not null)
            {
                dev += $",serial={d.Serial}";
            }
            a.AddRange(["-device", dev]);
        }
        if (_ports.Count > 0)
        {
            // ioeventfd=off: QEMU takes a port's bytes in the vCPU thread at the guest's notify, so
            // everything written is on the host before a following guest reboot ends QEMU (with an
            // ioeventfd the main loop may see the reboot first). On microvm the switch exists only on
            // the virtio-mmio transport, so it applies to every mmio device there.
            if (Machine == QemuMachine.Microvm)
            {
                a.AddRange(["-global", "virtio-mmio.ioeventfd=off", "-device", "virtio-serial-device,id=vser0"]);
            }
            else
            {
                a.AddRange(["-device", "virtio-serial-pci,id=vser0,ioeventfd=off"]);
            }
            for (var i = 0; i < _ports.Count; i++)
            {
                var p = _ports[i];
                var chardev = p.FilePath is not null
                    ? $"file,id=port{i},path={Escape(p.FilePath)}"
                    : $"socket,id=port{i},path={Escape(p.SocketPath!)},server=on,wait=off";
                a.AddRange(["-chardev", chardev, "-device", $"virtserialport,bus=vser0.0,chardev=port{i},name={p.Name}"]);
            }
        }
        if (VsockCid is uint cid)
        {
            a.AddRange(["-device", $"{(Machine == QemuMachine.Microvm ? "vhost-vsock-device" : "vhost-vsock-pci")},guest-cid={cid.ToString(CultureInfo.InvariantCulture)}"]);
        }
        for (var i = 0; i < _shares.Count; i++)
        {
            var s = _shares[i];
            a.AddRange(["-fsdev", $"local,id=fs{i},path={Escape(s.HostPath)},security_model=none{(s.ReadOnly ? ",readonly=on" : "")}"]);
            a.AddRange(["-device", $"{Device("virtio-9p")},fsdev=fs{i},mount_tag={s.Tag}"]);
        }
        for (var i = 0; i < _fsShares.Count; i++)
        {
            var s = _fsShares[i];
            a.AddRange(["-chardev", $"socket,id=vfs{i},path={Escape(s.SocketPath)}"]);
            a.AddRange(["-device", $"{Device("vhost-user-fs")},chardev=vfs{i},tag={s.Tag}"]);
        }
        if (Tap is not null)
        {
            a.AddRange(["-netdev", $"tap,id=n0,ifname={Escape(Tap)},script=no,downscript=no", "-device", $"{Device("virtio-net")},netdev=n0,mac={Mac}"]);
        }
        if (Balloon)
        {
            a.AddRange(["-device", Device("virtio-balloon") + (FreePageReporting ? ",free-page-reporting=on" : "")]);
        }
        for (var i = 0; i < HotplugSlots; i++)
        {
            a.AddRange(["-device", $"pcie-root-port,id={HotplugSlotId(i)},bus=pcie.0,chassis={(i + 1).ToString(CultureInfo.InvariantCulture)}"]);
        }
        a.AddRange(_extra);
        return a;
    }

    private string Device(string kind) => Machine == QemuMachine.Microvm ? kind + "-device" : kind + "-pci";

    /// <summary>QEMU option values separate keys with ',' and escape a literal ',' by doubling it.</summary>
    public static string Escape(string value) => value.Replace(",", ",,", StringComparison.Ordinal);

    private static string NotEmpty(string value, string field)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            throw StrataException.Invalid(field, "must not be empty");
        }
        return value;
    }
}
