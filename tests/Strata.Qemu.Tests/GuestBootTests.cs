using System.Diagnostics;
using Strata.Contracts;
using Strata.Qemu.Guest;
using Xunit.Abstractions;

namespace Strata.Qemu.Tests;

/// <summary>Boots real guests under TCG (or KVM where it works) and checks the whole path: argv, init, channels, exit code.</summary>
public sealed class GuestBootTests : IClassFixture<GuestAssetsFixture>
{
    private static readonly TimeSpan BootTimeout = TimeSpan.FromSeconds(90);
    private static readonly GuestWorkload Workload = new(["sh", "-c", "uname -r; echo out; echo err >&2; exit 4"]);

    private readonly GuestAssetsFixture _assets;
    private readonly ITestOutputHelper _output;

    public GuestBootTests(GuestAssetsFixture assets, ITestOutputHelper output)
    {
        _assets = assets;
        _output = output;
    }

    private GuestVmOptions Options(TempDir dir, GuestWorkload workload) => new()
    {
        Directory = dir.Combine("vm"),
        KernelPath = _assets.Kernel.KernelPath,
        InitrdPath = _assets.Initrd,
        Workload = workload,
    };

    private async Task<(VmExit Exit, string Stdout, string Stderr)> RunAsync(GuestVmOptions options, string label)
    {
        var plan = QemuVm.Plan(options);
        var clock = Stopwatch.StartNew();
        await using var vm = await QemuVm.StartAsync(plan, CancellationToken.None);
        var exit = await vm.WaitAsync(BootTimeout, CancellationToken.None);
        clock.Stop();
        _output.WriteLine($"{label}: start-to-exit {clock.ElapsedMilliseconds} ms ({options.Machine}, {options.Accel})");
        var stdout = await File.ReadAllTextAsync(plan.StdoutPath);
        var stderr = await File.ReadAllTextAsync(plan.StderrPath);
        if (exit.GuestExitCode is null)
        {
            _output.WriteLine(await File.ReadAllTextAsync(plan.SerialLog));
        }
        return (exit, stdout, stderr);
    }

    [GuestFact]
    public async Task Microvm_InitramfsRoot_SeparatesStdoutStderrAndReturnsExitCode()
    {
        using var dir = new TempDir();
        var (exit, stdout, stderr) = await RunAsync(Options(dir, Workload), "microvm initramfs");

        Assert.False(exit.TimedOut, exit.Reason);
        Assert.Equal(4, exit.GuestExitCode);
        Assert.Equal(0, exit.QemuExitCode); // The guest rebooted and QEMU (-no-reboot) ended by itself.
        Assert.Equal($"{_assets.Kernel.Release}\nout\n", stdout); // The guest's kernel, not the host's.
        Assert.Equal("err\n", stderr);
    }

    [GuestFact]
    public async Task Microvm_EnvAndWorkingDir_ReachTheWorkload()
    {
        using var dir = new TempDir();
        var workload = new GuestWorkload(
            ["sh", "-c", "printf '%s|%s|%s' \"$GREETING\" \"$(pwd)\" \"$1\"", "sh", "it's a 'test'"],
            new Dictionary<string, string> { ["GREETING"] = "hello world" },
            "/proc");
        var (exit, stdout, _) = await RunAsync(Options(dir, workload), "microvm env");
        Assert.Equal(0, exit.GuestExitCode);
        Assert.Equal("hello world|/proc|it's a 'test'", stdout);
    }

    [GuestFact]
    public async Task Microvm_LotsOfOutputThenExit_NothingLost()
    {
        using var dir = new TempDir();
        var (exit, stdout, stderr) = await RunAsync(Options(dir, new GuestWorkload(["sh", "-c", "seq 1 30000; seq 1 3000 >&2"])), "microvm 170 KB output");
        Assert.Equal(0, exit.GuestExitCode);
        Assert.Equal(string.Concat(Enumerable.Range(1, 30000).Select(i => i + "\n")), stdout);
        Assert.Equal(string.Concat(Enumerable.Range(1, 3000).Select(i => i + "\n")), stderr);
    }

    [GuestFact]
    public async Task Microvm_Ext4RootDisk_RunsWorkloadInTheDisk()
    {
        using var dir = new TempDir();
        var root = await BuildRootDirectoryAsync(dir);
        var image = await new DiskBuilder(dir.Combine("disks")).BuildExt4Async(root, "test-root", null, CancellationToken.None);
        var options = Options(dir, new GuestWorkload(["sh", "-c", "uname -r; cat /etc/marker; echo out; echo err >&2; exit 4"]))
            with { RootDisk = new QemuDrive(image, "raw") };

        var (exit, stdout, stderr) = await RunAsync(options, "microvm ext4 root");

        Assert.Equal(4, exit.GuestExitCode);
        Assert.Equal($"{_assets.Kernel.Release}\nfrom-the-disk\nout\n", stdout);
        Assert.Equal("err\n", stderr);
    }

    [GuestFact]
    public async Task Pc_Qcow2OverlayOnSharedBase_WritesOnlyToOverlay()
    {
        using var dir = new TempDir();
        var root = await BuildRootDirectoryAsync(dir);
        var disks = new DiskBuilder(dir.Combine("disks"));
        var image = await disks.BuildExt4Async(root, "test-root", null, CancellationToken.None);
        var baseBytes = await File.ReadAllBytesAsync(image);
        var overlay = dir.Combine("overlay.qcow2");
        await disks.CreateOverlayAsync(image, "raw", overlay, CancellationToken.None);
        var options = Options(dir, new GuestWorkload(["sh", "-c", "echo written > /etc/new; cat /etc/marker /etc/new; exit 3"]))
            with { Machine = QemuMachine.Pc, RootDisk = new QemuDrive(overlay, "qcow2") };

        var (exit, stdout, _) = await RunAsync(options, "pc qcow2 overlay");

        Assert.Equal(3, exit.GuestExitCode);
        Assert.Equal("from-the-disk\nwritten\n", stdout);
        Assert.Equal(baseBytes, await File.ReadAllBytesAsync(image)); // The shared base is untouched.
    }

    [GuestFact]
    public async Task WaitAsync_HungGuest_IsKilledAtTimeout()
    {
        using var dir = new TempDir();
        var plan = QemuVm.Plan(Options(dir, new GuestWorkload(["sleep", "600"])));
        await using var vm = await QemuVm.StartAsync(plan, CancellationToken.None);

        var exit = await vm.WaitAsync(TimeSpan.FromSeconds(3), CancellationToken.None);

        Assert.True(exit.TimedOut);
        Assert.True(exit.Killed);
        Assert.Null(exit.GuestExitCode);
        Assert.Contains("did not finish within 3 s", exit.Reason, StringComparison.Ordinal);
        Assert.True(vm.HasExited);
    }

    [GuestFact]
    public async Task StopAsync_RunningGuest_EndsQemuAfterGrace()
    {
        using var dir = new TempDir();
        var plan = QemuVm.Plan(Options(dir, new GuestWorkload(["sleep", "600"])));
        await using var vm = await QemuVm.StartAsync(plan, CancellationToken.None);
        var qmp = await vm.GetQmpAsync(CancellationToken.None);
        Assert.Equal("running", (await qmp.ExecuteAsync("query-status")).GetProperty("status").GetString());

        await vm.StopAsync(TimeSpan.FromSeconds(1), CancellationToken.None);

        // The shared connection saw the whole stop: the power button, then QEMU quitting.
        var events = new List<string>();
        await foreach (var e in qmp.ReadEventsAsync())
        {
            events.Add(e.Name);
        }
        Assert.Contains("POWERDOWN", events);
        Assert.Contains("SHUTDOWN", events);
        Assert.True(events.IndexOf("POWERDOWN") < events.IndexOf("SHUTDOWN"), string.Join(",", events));
        Assert.True(vm.HasExited);
        var exit = await vm.WaitAsync(CancellationToken.None);
        Assert.False(exit.Killed); // QMP quit was enough; no SIGKILL.
        Assert.Null(exit.GuestExitCode);
    }

    [Fact]
    public async Task StartAsync_MissingKernel_FailsNamingThePackage()
    {
        using var dir = new TempDir();
        var plan = QemuVm.Plan(new GuestVmOptions
        {
            Directory = dir.Path,
            KernelPath = dir.Combine("no-such-vmlinuz"),
            InitrdPath = dir.Combine("initrd"),
            Workload = new GuestWorkload(["true"]),
        });
        var e = await Assert.ThrowsAsync<StrataException>(() => QemuVm.StartAsync(plan, CancellationToken.None));
        Assert.Equal(ErrorKind.Unavailable, e.Kind);
        Assert.Contains("linux-image-cloud-amd64", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Plan_MicrovmGuest_WiresChannelsAndKernelArguments()
    {
        var plan = QemuVm.Plan(new GuestVmOptions
        {
            Directory = "/var/lib/strata/instances/abc",
            KernelPath = "/boot/vmlinuz",
            InitrdPath = "/cache/initramfs.gz",
            Workload = new GuestWorkload(["true"]),
            RootDisk = new QemuDrive("/d/root.qcow2", "qcow2"),
        });
        var argv = plan.Argv.ToList();
        var append = argv[argv.IndexOf("-append") + 1];
        Assert.Contains("strata.root=/dev/vda", append, StringComparison.Ordinal);
        Assert.Contains("strata.workload=", append, StringComparison.Ordinal);
        Assert.Contains("panic=-1", append, StringComparison.Ordinal);
        Assert.Contains("virtserialport,bus=vser0.0,chardev=port0,name=strata.stdout", argv);
        Assert.Contains("virtserialport,bus=vser0.0,chardev=port1,name=strata.stderr", argv);
        Assert.Contains("virtserialport,bus=vser0.0,chardev=port2,name=strata.control", argv);
        Assert.Contains("-no-reboot", argv);
        Assert.Equal("/var/lib/strata/instances/abc/qmp.sock", plan.QmpSocket);
    }

    [Fact]
    public void Plan_DirectoryTooLongForSocket_ThrowsInvalidArgument()
    {
        var e = Assert.Throws<StrataException>(() => QemuVm.Plan(new GuestVmOptions
        {
            Directory = "/" + new string('d', 120),
            KernelPath = "/k",
            InitrdPath = "/i",
            Workload = new GuestWorkload(["true"]),
        }));
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
    }

    [Fact]
    public void ReadGuestReport_ParsesExitAndFailure()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.Combine("c1"), "STRATA-EXIT 137\n");
        File.WriteAllText(dir.Combine("c2"), "STRATA-FAIL cannot mount /dev/vda as ext4\n");
        Assert.Equal(new GuestReport(137, null), QemuVm.ReadGuestReport(dir.Combine("c1")));
        Assert.Equal(new GuestReport(null, "cannot mount /dev/vda as ext4"), QemuVm.ReadGuestReport(dir.Combine("c2")));
        Assert.Equal(new GuestReport(null, null), QemuVm.ReadGuestReport(dir.Combine("missing")));
    }

    // A tiny "image": busybox with the applets the workloads use, and a file only the disk has.
    private static async Task<string> BuildRootDirectoryAsync(TempDir dir)
    {
        var root = dir.Combine("rootfs");
        foreach (var d in new[] { "bin", "etc", "proc", "sys", "dev", "tmp" })
        {
            Directory.CreateDirectory(Path.Combine(root, d));
        }
        File.Copy("/bin/busybox", Path.Combine(root, "bin", "busybox"));
        foreach (var applet in new[] { "sh", "uname", "cat", "echo", "sleep" })
        {
            File.CreateSymbolicLink(Path.Combine(root, "bin", applet), "busybox");
        }
        await File.WriteAllTextAsync(Path.Combine(root, "etc", "marker"), "from-the-disk\n");
        return root;
    }
}
