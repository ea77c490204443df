using System.Globalization;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Drivers.Vm;
using Strata.Node.Logs;
using Strata.Testing;

namespace Strata.Vm.Tests;

/// <summary>Behaviour of the vm tier beyond the shared contract: real QEMU guests under TCG or KVM.</summary>
public sealed class VmDriverTests
{
    private static string GuestKernelRelease() =>
        Path.GetFileName(Directory.GetFiles("/boot", "vmlinuz-*-cloud-amd64").Order(StringComparer.Ordinal).Last())["vmlinuz-".Length..];

    [SkippableFact]
    public async Task Run_UnameAndEcho_PrintsGuestKernelReleaseAndExitsWithGuestCode()
    {
        VmFixture.RequireEngine();
        using var driver = await VmFixture.CreateDriverAsync();
        await using var vm = await VmInstance.CreateAsync(driver, VmFixture.Busybox("sh", "-c", "uname -r; echo ok; echo to-stderr >&2; exit 5"));
        await vm.StartAsync();
        var exit = await vm.WaitAsync();

        Assert.Equal(5, exit.ExitCode);
        var log = CriLogReader.ReadTail(LogFiles.LogDirectory(vm.Directory), null);
        var stdout = string.Concat(log.Where(r => r.Stream == "stdout").Select(r => r.Text + "\n"));
        Assert.Contains(GuestKernelRelease(), stdout, StringComparison.Ordinal);
        Assert.Contains("ok\n", stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("to-stderr", stdout, StringComparison.Ordinal);
        Assert.Contains(log, r => r.Stream == "stderr" && r.Text.Contains("to-stderr", StringComparison.Ordinal));
    }

    [SkippableFact]
    public async Task Create_MemoryBelowMinimum_IsRefusedAndLeavesNothing()
    {
        VmFixture.RequireEngine();
        using var driver = await VmFixture.CreateDriverAsync();
        var dir = Directory.CreateTempSubdirectory("strata-vm-bad-").FullName;
        try
        {
            var e = await Assert.ThrowsAsync<StrataException>(() => driver.CreateAsync(Request(dir,
                VmFixture.Busybox("true") with { Resources = new ResourceSpec { MemoryBytes = 32L * 1024 * 1024 } }), CancellationToken.None));
            Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
            Assert.Equal("resources.memoryBytes", e.Field);
            Assert.Contains("64 MiB", e.Message, StringComparison.Ordinal);
            Assert.Empty(Directory.EnumerateFileSystemEntries(dir));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [SkippableFact]
    public async Task Create_ContainerOnlyOptions_AreRefusedNamingTheFieldAndLeaveNothing()
    {
        VmFixture.RequireEngine();
        using var driver = await VmFixture.CreateDriverAsync();
        var dir = Directory.CreateTempSubdirectory("strata-vm-bad-").FullName;
        try
        {
            var cases = new (InstanceSpec Spec, string Field, string Flag)[]
            {
                (VmFixture.Busybox("true") with { Security = new SecuritySpec { ReadOnlyRootfs = true } }, "security.readOnlyRootfs", "--read-only"),
                (VmFixture.Busybox("true") with { Security = new SecuritySpec { CapDrop = ["ALL"] } }, "security.capDrop", "--cap-add/--cap-drop"),
                (VmFixture.Busybox("true") with { Security = new SecuritySpec { Devices = ["/dev/null"] } }, "security.devices", "--device"),
                (VmFixture.Busybox("true") with { Resources = new ResourceSpec { Cpuset = "0" } }, "resources.cpuset", "--cpuset"),
            };
            foreach (var (spec, field, flag) in cases)
            {
                var e = await Assert.ThrowsAsync<StrataException>(() => driver.CreateAsync(Request(dir, spec), CancellationToken.None));
                Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
                Assert.Equal(field, e.Field);
                Assert.Contains(flag, e.Message, StringComparison.Ordinal);
                Assert.Contains("vm tier", e.Message, StringComparison.Ordinal);
            }
            Assert.Empty(Directory.EnumerateFileSystemEntries(dir));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [SkippableFact]
    public async Task Run_SpecUser_RunsAsThatUserInTheGuest()
    {
        VmFixture.RequireEngine();
        using var driver = await VmFixture.CreateDriverAsync();
        await using var vm = await VmInstance.CreateAsync(driver, VmFixture.Busybox("sh", "-c", "echo ids $(id -u) $(id -g) home $HOME; echo x > /etc/owned || exit 9")
            with { Security = new SecuritySpec { User = "1234:5678" } });
        await vm.StartAsync();
        var exit = await vm.WaitAsync();

        var log = CriLogReader.ReadTail(LogFiles.LogDirectory(vm.Directory), null);
        var stdout = string.Concat(log.Where(r => r.Stream == "stdout").Select(r => r.Text + "\n"));
        Assert.Contains("ids 1234 5678 home /\n", stdout, StringComparison.Ordinal);
        Assert.Equal(9, exit.ExitCode); // root-owned /etc is not writable for uid 1234
    }

    [SkippableFact]
    public async Task Create_MissingKernel_SaysWhichPackageAndLeavesNothing()
    {
        VmFixture.RequireEngine();
        using var driver = await VmFixture.CreateDriverAsync(o => o with { KernelPath = "/nonexistent/vmlinuz-0.0-cloud-amd64", Accelerator = "tcg" });
        var dir = Directory.CreateTempSubdirectory("strata-vm-bad-").FullName;
        try
        {
            var e = await Assert.ThrowsAsync<StrataException>(() => driver.CreateAsync(Request(dir, VmFixture.Busybox("true")), CancellationToken.None));
            Assert.Equal(ErrorKind.Unavailable, e.Kind);
            Assert.Contains("linux-image-cloud-amd64", e.Message, StringComparison.Ordinal);
            Assert.Empty(Directory.EnumerateFileSystemEntries(dir));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [SkippableFact]
    public async Task Create_UnknownImage_IsRefusedNamingTheImage()
    {
        VmFixture.RequireEngine();
        using var driver = await VmFixture.CreateDriverAsync();
        var dir = Directory.CreateTempSubdirectory("strata-vm-bad-").FullName;
        try
        {
            var e = await Assert.ThrowsAsync<StrataException>(() => driver.CreateAsync(Request(dir, new InstanceSpec { Image = "no-such-image:1", Args = ["true"] }), CancellationToken.None));
            Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
            Assert.Equal("image", e.Field);
            Assert.Empty(Directory.EnumerateFileSystemEntries(dir));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [SkippableFact]
    public async Task Snapshot_RestoreRunning_RollsBackWithoutReboot()
    {
        VmFixture.RequireEngine();
        using var driver = await VmFixture.CreateDriverAsync();
        await using var vm = await VmInstance.CreateAsync(driver, VmFixture.Busybox(GuestShell.Workload));
        await vm.StartAsync();
        await using var shell = await GuestShell.ConnectAsync(VmDriver.ExecSocket(vm.Handle), TimeSpan.FromSeconds(30));

        await shell.RunAsync("echo 1 > /counter", TimeSpan.FromSeconds(120)); // the first command waits for the boot
        Assert.Equal("1", (await shell.RunAsync("cat /counter")).Trim());
        var bootId = (await shell.RunAsync("cat /proc/sys/kernel/random/boot_id")).Trim();
        var uptimeAtSnapshot = Uptime(await shell.RunAsync("cat /proc/uptime"));

        var snapDir = Directory.CreateTempSubdirectory("strata-vm-snap-").FullName;
        try
        {
            var details = await driver.SnapshotAsync(vm.Handle, snapDir, CancellationToken.None);
            Assert.Equal(SnapshotKind.Stateful, details.Kind);

            await shell.RunAsync("echo 2 > /counter");
            Assert.Equal("2", (await shell.RunAsync("cat /counter")).Trim());
            var uptimeBeforeRestore = Uptime(await shell.RunAsync("cat /proc/uptime"));

            await driver.RestoreRunningAsync(vm.Handle, snapDir, CancellationToken.None);

            Assert.Equal("1", (await shell.RunAsync("cat /counter")).Trim());
            Assert.Equal(bootId, (await shell.RunAsync("cat /proc/sys/kernel/random/boot_id")).Trim());
            var uptimeAfter = Uptime(await shell.RunAsync("cat /proc/uptime"));
            // No reboot: the uptime was not reset, it counts on from the snapshot (QEMU keeps the guest clock
            // monotonic across loadvm, so it does not jump back to the snapshot's value either).
            Assert.True(uptimeAfter >= uptimeAtSnapshot, $"uptime {uptimeAfter} s after restore is below {uptimeAtSnapshot} s at the snapshot (a reboot?)");
            Assert.True(uptimeBeforeRestore >= uptimeAtSnapshot);

            await driver.DeleteSnapshotAsync(vm.Handle, snapDir, running: true, CancellationToken.None);
        }
        finally
        {
            Directory.Delete(snapDir, true);
        }
    }

    [SkippableFact]
    public async Task Disposable_SecondRun_DoesNotSeeTheFirstRunsWrites()
    {
        VmFixture.RequireEngine();
        using var driver = await VmFixture.CreateDriverAsync();
        await using var vm = await VmInstance.CreateAsync(driver,
            VmFixture.Busybox("sh", "-c", "cat /marker 2>/dev/null || echo absent; echo present > /marker; sync") with { Disposable = true });
        await vm.StartAsync();
        Assert.Equal(0, (await vm.WaitAsync()).ExitCode);
        await vm.StartAsync();
        Assert.Equal(0, (await vm.WaitAsync()).ExitCode);

        var lines = CriLogReader.ReadTail(LogFiles.LogDirectory(vm.Directory), null).Where(r => r.Stream == "stdout").Select(r => r.Text).ToList();
        Assert.Equal(2, lines.Count(l => l == "absent"));
        Assert.DoesNotContain("present", lines);
    }

    [SkippableFact]
    public async Task Resize_Memory_BalloonTakesItBack()
    {
        VmFixture.RequireEngine();
        using var driver = await VmFixture.CreateDriverAsync();
        await using var vm = await VmInstance.CreateAsync(driver,
            VmFixture.Busybox(GuestShell.Workload) with { Resources = new ResourceSpec { MemoryBytes = 256L * 1024 * 1024 } });
        await vm.StartAsync();
        await using var shell = await GuestShell.ConnectAsync(VmDriver.ExecSocket(vm.Handle), TimeSpan.FromSeconds(30));
        var before = MemTotalKiB(await shell.RunAsync("cat /proc/meminfo", TimeSpan.FromSeconds(120)));

        var bad = await Assert.ThrowsAsync<StrataException>(() => driver.ResizeAsync(vm.Handle, 512L * 1024 * 1024, null, CancellationToken.None));
        Assert.Equal(ErrorKind.InvalidArgument, bad.Kind);

        await driver.ResizeAsync(vm.Handle, 160L * 1024 * 1024, null, CancellationToken.None);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        long after;
        while ((after = MemTotalKiB(await shell.RunAsync("cat /proc/meminfo"))) > before - 64 * 1024 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
        }
        Assert.True(after <= before - 64 * 1024, $"MemTotal went from {before} KiB to {after} KiB; the balloon should have taken ~96 MiB");
    }

    [SkippableFact]
    public async Task Resize_Cpus_HotAddsAVcpuTheGuestCanOnline()
    {
        VmFixture.RequireEngine();
        using var driver = await VmFixture.CreateDriverAsync();
        await using var vm = await VmInstance.CreateAsync(driver,
            VmFixture.Busybox(GuestShell.Workload) with { Resources = new ResourceSpec { Cpus = 1 } });
        await vm.StartAsync();
        await using var shell = await GuestShell.ConnectAsync(VmDriver.ExecSocket(vm.Handle), TimeSpan.FromSeconds(30));
        Assert.Equal("1", (await shell.RunAsync("grep -c ^processor /proc/cpuinfo", TimeSpan.FromSeconds(120))).Trim());

        // The count comes from QMP query-cpus-fast after the device_add.
        var resized = await driver.ResizeAsync(vm.Handle, null, 2, CancellationToken.None);
        Assert.Equal(2, resized.Cpus);
        Assert.Equal(4, resized.MaxCpus);

        // The guest kernel registers the new CPU (ACPI hot-plug); without a udev rule it stays offline until asked.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!(await shell.RunAsync("ls /sys/devices/system/cpu/")).Contains("cpu1", StringComparison.Ordinal) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
        }
        await shell.RunAsync("[ \"$(cat /sys/devices/system/cpu/cpu1/online)\" = 1 ] || echo 1 > /sys/devices/system/cpu/cpu1/online", TimeSpan.FromSeconds(60));
        Assert.Equal("2", (await shell.RunAsync("grep -c ^processor /proc/cpuinfo")).Trim());

        var shrink = await Assert.ThrowsAsync<StrataException>(() => driver.ResizeAsync(vm.Handle, null, 1, CancellationToken.None));
        Assert.Equal(ErrorKind.InvalidArgument, shrink.Kind);
        var tooMany = await Assert.ThrowsAsync<StrataException>(() => driver.ResizeAsync(vm.Handle, null, 5, CancellationToken.None));
        Assert.Contains("4 vCPUs", tooMany.Message, StringComparison.Ordinal);
        // A fraction of a core is for the cgroup tiers: refused with the whole number to give, nothing plugged.
        var fraction = await Assert.ThrowsAsync<StrataException>(() => driver.ResizeAsync(vm.Handle, null, 2.5, CancellationToken.None));
        Assert.Equal(ErrorKind.InvalidArgument, fraction.Kind);
        Assert.Contains("the vm tier takes whole vCPUs, and 2.5 is not one; give 3", fraction.Message, StringComparison.Ordinal);
        Assert.Equal("2", (await shell.RunAsync("grep -c ^processor /proc/cpuinfo")).Trim());
    }

    [SkippableTheory]
    [InlineData("mips")]
    [InlineData("riscv64")]
    public async Task Create_UnsupportedArch_IsRefusedNamingTheFieldAndLeavesNothing(string arch)
    {
        VmFixture.RequireEngine();
        using var driver = await VmFixture.CreateDriverAsync();
        var dir = Directory.CreateTempSubdirectory("strata-vm-bad-").FullName;
        try
        {
            var e = await Assert.ThrowsAsync<StrataException>(() => driver.CreateAsync(Request(dir,
                VmFixture.Busybox("true") with { Requirements = new WorkloadRequirements { Arch = arch } }), CancellationToken.None));
            Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
            Assert.Equal("requirements.arch", e.Field);
            Assert.Contains("amd64 or arm64", e.Message, StringComparison.Ordinal);
            Assert.Empty(Directory.EnumerateFileSystemEntries(dir));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [SkippableFact]
    public async Task Create_Arm64WithoutEmulator_NamesThePackage()
    {
        VmFixture.RequireEngine();
        using var driver = await VmFixture.CreateDriverAsync(o => o with { Arm64QemuBinary = "/nonexistent/qemu-system-aarch64" });
        var dir = Directory.CreateTempSubdirectory("strata-vm-bad-").FullName;
        try
        {
            var e = await Assert.ThrowsAsync<StrataException>(() => driver.CreateAsync(Request(dir,
                VmFixture.Busybox("true") with { Requirements = new WorkloadRequirements { Arch = "arm64" } }), CancellationToken.None));
            Assert.Equal(ErrorKind.Unavailable, e.Kind);
            Assert.Contains("apt-get install qemu-system-arm", e.Message, StringComparison.Ordinal);
            Assert.Empty(Directory.EnumerateFileSystemEntries(dir));
            var fingerprint = await driver.FingerprintAsync(CancellationToken.None);
            Assert.Contains("arm64: no", fingerprint.Reason, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [SkippableFact]
    public async Task Create_Arm64WithoutKernel_NamesTheKernelPackage()
    {
        VmFixture.RequireEngine();
        TestEnvironment.Require(File.Exists("/usr/bin/qemu-system-aarch64"), "qemu-system-aarch64 is missing; apt-get install qemu-system-arm");
        using var driver = await VmFixture.CreateDriverAsync(o => o with { Arm64KernelPath = "/nonexistent/vmlinuz-6.1.0-cloud-arm64" });
        var dir = Directory.CreateTempSubdirectory("strata-vm-bad-").FullName;
        try
        {
            var e = await Assert.ThrowsAsync<StrataException>(() => driver.CreateAsync(Request(dir,
                VmFixture.Busybox("true") with { Requirements = new WorkloadRequirements { Arch = "aarch64" } }), CancellationToken.None));
            Assert.Equal(ErrorKind.Unavailable, e.Kind);
            Assert.Contains("linux-image-cloud-arm64", e.Message, StringComparison.Ordinal);
            Assert.Empty(Directory.EnumerateFileSystemEntries(dir));
            var fingerprint = await driver.FingerprintAsync(CancellationToken.None);
            Assert.Contains("arm64: no (qemu-system-aarch64 installed, but no arm64 guest kernel", fingerprint.Reason, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [SkippableFact]
    public async Task Run_Arm64UnameM_PrintsAarch64AndExitsWithGuestCode()
    {
        VmFixture.RequireEngine();
        VmFixture.RequireArm64();
        using var driver = await VmFixture.CreateDriverAsync();
        await using var vm = await VmInstance.CreateAsync(driver, new InstanceSpec
        {
            Image = "busybox:arm64",
            Args = ["sh", "-c", "uname -m; exit 7"],
            Requirements = new WorkloadRequirements { Arch = "arm64" },
        });
        await vm.StartAsync();
        var exit = await vm.WaitAsync(TimeSpan.FromMinutes(3));

        Assert.Equal(7, exit.ExitCode);
        var log = CriLogReader.ReadTail(LogFiles.LogDirectory(vm.Directory), null);
        Assert.Contains(log, r => r.Stream == "stdout" && r.Text == "aarch64");
        var fingerprint = await driver.FingerprintAsync(CancellationToken.None);
        Assert.Contains("arm64: yes", fingerprint.Reason, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Create_Arm64WithAmd64Image_IsRefusedAndLeavesNothing()
    {
        VmFixture.RequireEngine();
        VmFixture.RequireArm64();
        using var driver = await VmFixture.CreateDriverAsync();
        var dir = Directory.CreateTempSubdirectory("strata-vm-bad-").FullName;
        try
        {
            var e = await Assert.ThrowsAsync<StrataException>(() => driver.CreateAsync(Request(dir,
                VmFixture.Busybox("true") with { Requirements = new WorkloadRequirements { Arch = "arm64" } }), CancellationToken.None));
            Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
            Assert.Contains("build-base busybox --arch arm64", e.Message, StringComparison.Ordinal);
            Assert.Empty(Directory.EnumerateFileSystemEntries(dir));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    internal static CreateRequest Request(string dir, InstanceSpec spec) =>
        new() { InstanceId = "bad", Name = "bad", Project = "default", Directory = dir, Spec = spec with { Name = "bad" } };

    private static double Uptime(string procUptime) =>
        double.Parse(procUptime.Trim().Split(' ')[0], CultureInfo.InvariantCulture);

    private static long MemTotalKiB(string meminfo) =>
        long.Parse(meminfo.Split('\n').First(l => l.StartsWith("MemTotal:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
}
