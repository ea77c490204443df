using Strata.Contracts;

namespace Strata.Qemu.Guest;

/// <summary>Where Strata's init writes the workload's output and outcome (virtio-serial ports, docs/qemu.md).</summary>
/// <param name="Stdout">The <c>strata.stdout</c> port's file (a supervisor's pipe as <c>/proc/self/fd/N</c> or <c>/dev/stdout</c> works).</param>
/// <param name="Stderr">The <c>strata.stderr</c> port's file.</param>
/// <param name="Control">The <c>strata.control</c> port's file: timing marks, the exit code or init's failure.</param>
/// <param name="ExecSocket">The <c>strata.exec</c> port as a unix server socket; null: no exec port.</param>
public sealed record GuestPorts(string Stdout, string Stderr, string Control, string? ExecSocket = null, string? SetupSocket = null);

/// <summary>
/// The QEMU command line every Strata guest starts from, the sandbox's microvm and the vm tier's pc/q35/virt alike:
/// machine, accelerator and CPU, vCPUs, memory, the QMP socket, the root disk (first, so it is <c>/dev/vda</c>),
/// direct kernel boot, Strata's init ports, the network (a tap NIC and the names disk) and the balloon.
/// <see cref="ToCommandLine"/> gives a <see cref="QemuCommandLine"/> each tier then adds its own to (the sandbox:
/// its serial log, pid file, virtio-fs shares and vsock; the vm tier: its console socket, vCPU hot-plug room and
/// <c>-loadvm</c>). The kernel's arguments come from <see cref="KernelArguments"/>.
/// </summary>
public sealed record GuestMachine
{
    public required QemuMachine Machine { get; init; }
    public string QemuBinary { get; init; } = "qemu-system-x86_64";
    public string Accel { get; init; } = Accelerators.Tcg;
    public int Cpus { get; init; } = 1;
    /// <summary>Under KVM, the named CPU model (<see cref="QemuCommandLine.WithCpuModel"/>); null: <c>host</c>.</summary>
    public string? CpuModel { get; init; }
    public int MemoryMiB { get; init; } = 256;
    public required string QmpSocket { get; init; }
    /// <summary>The guest's root disk; null: none (the initramfs is the root).</summary>
    public QemuDrive? RootDisk { get; init; }
    /// <summary>Direct kernel boot; null: firmware boots the root disk's own loader (a full OS image).</summary>
    public string? KernelPath { get; init; }
    public string? InitrdPath { get; init; }
    public string? KernelAppend { get; init; }
    /// <summary>Strata init's ports; null for a guest that is not Strata's (a full OS image).</summary>
    public GuestPorts? Ports { get; init; }
    public GuestNetwork? Network { get; init; }
    public bool Balloon { get; init; }
    /// <summary>The balloon offers free-page reporting (<see cref="QemuCommandLine.WithBalloon"/>).</summary>
    public bool FreePageReporting { get; init; }
    /// <summary>Under TCG, the translated-code buffer in MiB (<see cref="QemuCommandLine.WithTcgCodeBuffer"/>); null: QEMU's default.</summary>
    public int? TcgCodeBufferMiB { get; init; }
    /// <summary>Empty PCIe root ports for shares plugged in later (<see cref="QemuCommandLine.WithHotplugSlots"/>).</summary>
    public int HotplugSlots { get; init; }

    public QemuCommandLine ToCommandLine()
    {
        CheckSocketPath(QmpSocket);
        var cmd = new QemuCommandLine(Machine)
            .WithBinary(QemuBinary)
            .WithAccel(Accel)
            .WithCpus(Cpus)
            .WithCpuModel(CpuModel)
            .WithMemoryMiB(MemoryMiB)
            .WithQmpSocket(QmpSocket)
            .WithBalloon(Balloon, FreePageReporting)
            .WithTcgCodeBuffer(TcgCodeBufferMiB)
            .WithHotplugSlots(HotplugSlots);
        if (KernelPath is not null)
        {
            cmd.WithKernel(KernelPath, InitrdPath, KernelAppend);
        }
        if (RootDisk is not null)
        {
            cmd.AddDrive(RootDisk);
        }
        if (Ports is { } ports)
        {
            cmd.AddSerialPort(new VirtioSerialPort(GuestInit.StdoutPort, FilePath: ports.Stdout))
                .AddSerialPort(new VirtioSerialPort(GuestInit.StderrPort, FilePath: ports.Stderr))
                .AddSerialPort(new VirtioSerialPort(GuestInit.ControlPort, FilePath: ports.Control));
            if (ports.ExecSocket is { } exec)
            {
                cmd.AddSerialPort(new VirtioSerialPort(GuestInit.ExecPort, SocketPath: CheckSocketPath(exec)));
            }
            if (ports.SetupSocket is { } setup)
            {
                // A template's restore: the instance's own words arrive on this port (docs/sandbox.md, "Templates").
                cmd.AddSerialPort(new VirtioSerialPort(GuestInit.SetupPort, SocketPath: CheckSocketPath(setup)));
            }
        }
        if (Network is { } net)
        {
            // virtio-net on every machine; the same initramfs loads virtio_net and init configures eth0.
            cmd.WithTap(net.Tap, net.Mac);
            if (net.NamesDrive is { } names)
            {
                cmd.AddDrive(names);
            }
        }
        return cmd;
    }

    /// <summary>Refuses a unix socket path that does not fit <c>sockaddr_un</c>, naming the fix.</summary>
    public static string CheckSocketPath(string path)
    {
        if (path.Length > QemuVm.MaxSocketPath)
        {
            throw StrataException.Invalid("directory", $"{path} is too long for a unix socket path ({path.Length} > {QemuVm.MaxSocketPath} bytes); use a shorter data root");
        }
        return path;
    }
}
