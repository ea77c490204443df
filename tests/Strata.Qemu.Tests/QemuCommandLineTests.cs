using Strata.Contracts;

namespace Strata.Qemu.Tests;

public sealed class QemuCommandLineTests
{
    private static List<string> Argv(QemuCommandLine cmd) => cmd.Build().ToList();

    private static string After(List<string> argv, string option, int nth = 0) =>
        argv.Select((a, i) => (a, i)).Where(x => x.a == option).Skip(nth).Select(x => argv[x.i + 1]).First();

    [Fact]
    public void Build_Microvm_HasMinimalMachineAndDirectBoot()
    {
        var argv = Argv(new QemuCommandLine(QemuMachine.Microvm)
            .WithCpus(2).WithMemoryMiB(512)
            .WithKernel("/k/vmlinuz", "/k/initrd", "console=ttyS0 quiet")
            .WithSerialFile("/run/x/serial.log"));

        Assert.Equal("qemu-system-x86_64", argv[0]);
        Assert.Equal("microvm", After(argv, "-M"));
        Assert.Equal("tcg", After(argv, "-accel"));
        Assert.Equal("2", After(argv, "-smp"));
        Assert.Equal("524296K", After(argv, "-m")); // 512 MiB + GuestRam.PadKiB
        Assert.Contains("-nodefaults", argv);
        Assert.Contains("-no-user-config", argv);
        Assert.Contains("-nographic", argv);
        Assert.Contains("-no-reboot", argv);
        Assert.Equal("/k/vmlinuz", After(argv, "-kernel"));
        Assert.Equal("/k/initrd", After(argv, "-initrd"));
        Assert.Equal("console=ttyS0 quiet", After(argv, "-append"));
        Assert.Equal("file,id=serial0,path=/run/x/serial.log", After(argv, "-chardev"));
        Assert.Equal("chardev:serial0", After(argv, "-serial"));
        Assert.DoesNotContain("-cpu", argv);
    }

    /// <summary>
    /// QEMU 7.2 loses guest writes in a live move under TCG when a RAM block's length is a multiple of 256 KiB (its
    /// dirty-bitmap fast path; docs/move.md, "Switchover memory consistency"): every size a guest's RAM is given is off
    /// that grid, and the same for -m and every memory backend of a machine.
    /// </summary>
    [Theory]
    [InlineData(64)]
    [InlineData(256)]
    [InlineData(4096)]
    public void GuestRam_EverySizeGiven_IsOffThe256KiBGrid_AndTheSameForMAndTheBackends(int mib)
    {
        static long Kib(string size) => long.Parse(size.TrimEnd('K'), System.Globalization.CultureInfo.InvariantCulture);
        Assert.NotEqual(0, GuestRam.Bytes(mib) % (256 * 1024));
        Assert.Equal(GuestRam.Bytes(mib), Kib(GuestRam.Size(mib)) * 1024);
        Assert.Equal(0, GuestRam.Bytes(mib) % 8192); // QEMU rounds -m up to 8 KiB
        var argv = Argv(new QemuCommandLine(QemuMachine.Microvm).WithMemoryMiB(mib).AddVirtioFsShare(new VirtioFsShare("m0", "/d/fs0.sock")));
        Assert.Equal(GuestRam.Size(mib), After(argv, "-m"));
        Assert.Contains($"size={GuestRam.Size(mib)},", After(argv, "-object"), StringComparison.Ordinal);
        Assert.Contains(Strata.Qemu.Templates.GuestTemplate.BootArguments("/t/memory", mib), a => a.Contains($"size={GuestRam.Size(mib)},", StringComparison.Ordinal));
        Assert.Contains(Strata.Qemu.Templates.GuestTemplate.RestoreArguments("/t/memory", mib), a => a.Contains($"size={GuestRam.Size(mib)},", StringComparison.Ordinal));
        Assert.Contains(Strata.Qemu.Templates.GuestTemplate.ForIncomingMove(new GuestVmOptions { Directory = "/t", KernelPath = "/k", InitrdPath = null, Workload = new(["true"]), MemoryMiB = mib }, "/t/setup").ExtraQemuArguments,
            a => a.EndsWith($"size={GuestRam.Size(mib)}", StringComparison.Ordinal));
        Assert.Equal(mib * 1024L * 1024, GuestRam.Visible(GuestRam.Bytes(mib), mib * 1024L * 1024));
        using var query = System.Text.Json.JsonDocument.Parse($"{{\"actual\": {GuestRam.Bytes(mib)}}}");
        Assert.Equal(mib * 1024L * 1024, GuestRam.Visible(query.RootElement, mib * 1024L * 1024));
        using var none = System.Text.Json.JsonDocument.Parse("{}");
        Assert.Equal(mib * 1024L * 1024, GuestRam.Visible(none.RootElement, mib * 1024L * 1024));
    }

    [Fact]
    public void Build_MicrovmDevices_UseVirtioMmioNames()
    {
        var argv = Argv(new QemuCommandLine(QemuMachine.Microvm)
            .AddDrive(new QemuDrive("/d/base.ext4", "raw", ReadOnly: true))
            .AddDrive(new QemuDrive("/d/overlay.qcow2", "qcow2"))
            .AddSerialPort(new VirtioSerialPort("strata.stdout", FilePath: "/d/out"))
            .AddSerialPort(new VirtioSerialPort("strata.exec", SocketPath: "/d/exec.sock"))
            .WithVsock(7)
            .Add9pShare(new NinePShare("data", "/srv/data"))
            .WithBalloon()
            .WithQmpSocket("/d/qmp.sock"));

        Assert.Equal("file=/d/base.ext4,format=raw,if=none,id=drive0,readonly=on", After(argv, "-drive"));
        Assert.Equal("file=/d/overlay.qcow2,format=qcow2,if=none,id=drive1", After(argv, "-drive", 1));
        Assert.Equal("virtio-blk-device,drive=drive0", After(argv, "-device"));
        Assert.Contains("virtio-serial-device,id=vser0", argv);
        Assert.Equal("virtio-mmio.ioeventfd=off", After(argv, "-global"));
        Assert.Contains("virtserialport,bus=vser0.0,chardev=port0,name=strata.stdout", argv);
        Assert.Contains("file,id=port0,path=/d/out", argv);
        Assert.Contains("socket,id=port1,path=/d/exec.sock,server=on,wait=off", argv);
        Assert.Contains("vhost-vsock-device,guest-cid=7", argv);
        Assert.Contains("local,id=fs0,path=/srv/data,security_model=none,readonly=on", argv);
        Assert.Contains("virtio-9p-device,fsdev=fs0,mount_tag=data", argv);
        Assert.Contains("virtio-balloon-device", argv);
        Assert.Equal("unix:/d/qmp.sock,server=on,wait=off", After(argv, "-qmp"));
    }

    [Fact]
    public void Build_VirtioFsShares_ShareGuestRamAndUseModernVirtioMmio()
    {
        var argv = Argv(new QemuCommandLine(QemuMachine.Microvm)
            .WithMemoryMiB(128)
            .AddVirtioFsShare(new VirtioFsShare("m0", "/d/fs0.sock"))
            .AddVirtioFsShare(new VirtioFsShare("m1", "/d/fs,1.sock")));

        Assert.Equal("microvm,memory-backend=mem0", After(argv, "-M"));
        Assert.Equal("memory-backend-memfd,id=mem0,size=131080K,share=on", After(argv, "-object"));
        Assert.Equal("virtio-mmio.force-legacy=false", After(argv, "-global"));
        Assert.Contains("socket,id=vfs0,path=/d/fs0.sock", argv);
        Assert.Contains("vhost-user-fs-device,chardev=vfs0,tag=m0", argv);
        Assert.Contains("socket,id=vfs1,path=/d/fs,,1.sock", argv);
        Assert.Throws<StrataException>(() => new QemuCommandLine(QemuMachine.Microvm).AddVirtioFsShare(new VirtioFsShare("m0", "/a")).AddVirtioFsShare(new VirtioFsShare("m0", "/b")));
    }

    [Theory]
    [InlineData(QemuMachine.Microvm, "virtio-net-device")]
    [InlineData(QemuMachine.Q35, "virtio-net-pci")]
    public void Build_Tap_NetdevWithoutScriptsAndVirtioNetWithMac(QemuMachine machine, string device)
    {
        var argv = Argv(new QemuCommandLine(machine).WithTap("stap0123", "52:54:0a:4e:00:05"));
        Assert.Equal("tap,id=n0,ifname=stap0123,script=no,downscript=no", After(argv, "-netdev"));
        Assert.Contains($"{device},netdev=n0,mac=52:54:0a:4e:00:05", argv);
        Assert.DoesNotContain("-netdev", Argv(new QemuCommandLine(machine)));
    }

    [Fact]
    public void GuestNetwork_KernelArgument_AddressPrefixAndOptionalGateway()
    {
        Assert.Equal("strata.net=10.78.0.5/24,10.78.0.1", new GuestNetwork("t", "m", "10.78.0.5", 24, "10.78.0.1").ToKernelArgument());
        Assert.Equal("strata.net=10.78.0.5/24", new GuestNetwork("t", "m", "10.78.0.5", 24, null).ToKernelArgument());
        Assert.Throws<StrataException>(() => new GuestNetwork("t", "m", "10.78.0.5 x", 24, null).ToKernelArgument());
    }

    [Fact]
    public void Build_NoShares_KeepsPlainGuestRam()
    {
        var argv = Argv(new QemuCommandLine(QemuMachine.Microvm));
        Assert.Equal("microvm", After(argv, "-M"));
        Assert.DoesNotContain("-object", argv);
    }

    [Theory]
    [InlineData(QemuMachine.Q35, "q35")]
    [InlineData(QemuMachine.Pc, "pc")]
    [InlineData(QemuMachine.Virt, "virt")]
    public void Build_PcMachines_UseVirtioPciNames(QemuMachine machine, string name)
    {
        var argv = Argv(new QemuCommandLine(machine)
            .AddDrive(new QemuDrive("/d/disk.qcow2", "qcow2"))
            .AddSerialPort(new VirtioSerialPort("p", FilePath: "/d/p"))
            .WithVsock(3).WithBalloon());

        Assert.Equal(name, After(argv, "-M"));
        Assert.Contains("virtio-blk-pci,drive=drive0", argv);
        Assert.Contains("virtio-serial-pci,id=vser0,ioeventfd=off", argv);
        Assert.Contains("vhost-vsock-pci,guest-cid=3", argv);
        Assert.Contains("virtio-balloon-pci", argv);
        Assert.DoesNotContain(argv, a => a.Contains("-device,", StringComparison.Ordinal) || a.StartsWith("virtio-blk-device", StringComparison.Ordinal));
    }

    [Fact]
    public void Build_VirtUnderTcg_UsesA64BitCpu()
    {
        var argv = Argv(new QemuCommandLine(QemuMachine.Virt).WithBinary("qemu-system-aarch64"));
        Assert.Equal("virt", After(argv, "-M"));
        // virt's default CPU is 32-bit: an arm64 kernel would not start.
        Assert.Equal("cortex-a57", After(argv, "-cpu"));
        Assert.Equal("qemu-system-aarch64", argv[0]);
        Assert.DoesNotContain("-cpu", Argv(new QemuCommandLine(QemuMachine.Pc)));
    }

    [Fact]
    public void Build_Kvm_UsesHostCpu()
    {
        var argv = Argv(new QemuCommandLine(QemuMachine.Microvm).WithAccel("kvm"));
        Assert.Equal("kvm", After(argv, "-accel"));
        Assert.Equal("host", After(argv, "-cpu"));
    }

    [Fact]
    public void Build_KvmWithTheClusterBaseline_UsesThatModel_TcgKeepsQemusDefault()
    {
        Assert.Equal("Haswell-noTSX", After(Argv(new QemuCommandLine(QemuMachine.Pc).WithAccel("kvm").WithCpuModel("Haswell-noTSX")), "-cpu"));
        // A standalone daemon passes none: host.
        Assert.Equal("host", After(Argv(new QemuCommandLine(QemuMachine.Pc).WithAccel("kvm").WithCpuModel(null)), "-cpu"));
        // TCG emulates QEMU's default model on every host: no -cpu, whatever the baseline says.
        Assert.DoesNotContain("-cpu", Argv(new QemuCommandLine(QemuMachine.Pc).WithCpuModel("Haswell")));
        // The guest machine every tier builds from carries it through.
        var guest = new Strata.Qemu.Guest.GuestMachine { Machine = QemuMachine.Pc, Accel = "kvm", CpuModel = "EPYC-Rome", QmpSocket = "/tmp/q.sock" };
        Assert.Equal("EPYC-Rome", After(Argv(guest.ToCommandLine()), "-cpu"));
        // So does the sandbox's plan (a microvm): the model under KVM, none under TCG.
        GuestVmOptions Sandbox(string accel) => new()
        {
            Directory = "/tmp/x", KernelPath = "/k", InitrdPath = "/i", Workload = new Strata.Qemu.Guest.GuestWorkload(["true"]),
            Machine = QemuMachine.Microvm, Accel = accel, CpuModel = "EPYC-Rome", GuestTscKHz = 2_000_000,
        };
        Assert.Equal("EPYC-Rome", After([.. QemuVm.Plan(Sandbox("kvm")).Argv], "-cpu"));
        Assert.DoesNotContain("-cpu", QemuVm.Plan(Sandbox("tcg")).Argv);
        var bad = Assert.Throws<StrataException>(() => new QemuCommandLine(QemuMachine.Pc).WithCpuModel("Haswell,+vmx"));
        Assert.Contains("not a QEMU CPU model name", bad.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Build_PathWithComma_IsEscapedForQemu()
    {
        var argv = Argv(new QemuCommandLine(QemuMachine.Microvm).AddDrive(new QemuDrive("/d/a,b.img")).WithSerialFile("/x,y"));
        Assert.StartsWith("file=/d/a,,b.img,", After(argv, "-drive"), StringComparison.Ordinal);
        Assert.Equal("file,id=serial0,path=/x,,y", After(argv, "-chardev"));
    }

    [Fact]
    public void Build_NoRebootDisabled_OmitsFlag()
    {
        Assert.DoesNotContain("-no-reboot", Argv(new QemuCommandLine(QemuMachine.Q35).WithNoReboot(false)));
    }

    [Fact]
    public void With_InvalidValues_ThrowInvalidArgument()
    {
        var cmd = new QemuCommandLine(QemuMachine.Microvm);
        Assert.Equal(ErrorKind.InvalidArgument, Assert.Throws<StrataException>(() => cmd.WithAccel("hvf")).Kind);
        Assert.Equal(ErrorKind.InvalidArgument, Assert.Throws<StrataException>(() => cmd.WithCpus(0)).Kind);
        Assert.Equal(ErrorKind.InvalidArgument, Assert.Throws<StrataException>(() => cmd.WithMemoryMiB(8)).Kind);
        Assert.Equal(ErrorKind.InvalidArgument, Assert.Throws<StrataException>(() => cmd.WithVsock(2)).Kind);
        Assert.Equal(ErrorKind.InvalidArgument, Assert.Throws<StrataException>(() => cmd.AddDrive(new QemuDrive("/x", "vmdk"))).Kind);
        Assert.Equal(ErrorKind.InvalidArgument, Assert.Throws<StrataException>(() => cmd.AddSerialPort(new VirtioSerialPort("p"))).Kind);
        cmd.AddSerialPort(new VirtioSerialPort("p", FilePath: "/a"));
        Assert.Equal(ErrorKind.InvalidArgument, Assert.Throws<StrataException>(() => cmd.AddSerialPort(new VirtioSerialPort("p", FilePath: "/b"))).Kind);
    }
}
