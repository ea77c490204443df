using Strata.Contracts;
using Strata.Node.Drivers.Vm;
using Strata.Node.Logs;
using Strata.Testing;

namespace Strata.Vm.Tests;

/// <summary>Full-OS disks: import checks, and a real Debian disk booting through its own bootloader and init.</summary>
public sealed class VmDiskTests
{
    /// <summary>Built by scripts/build-debian-disk.sh; $STRATA_DEBIAN_DISK overrides.</summary>
    private static string DebianDisk =>
        Environment.GetEnvironmentVariable("STRATA_DEBIAN_DISK") is { Length: > 0 } path ? path : "/var/tmp/strata-debian-disk.qcow2";

    [SkippableFact]
    public async Task Import_TruncatedQcow2_IsRefusedAndLeavesNothing()
    {
        VmFixture.RequireEngine();
        using var temp = new TempDirectory("strata-vm-disk");
        var good = temp.Combine("good.qcow2");
        await HostToolRun("qemu-img", "create", "-q", "-f", "qcow2", good, "64M");
        await HostToolRun("qemu-io", "-c", "write -P 0xab 0 8M", good);
        var truncated = temp.Combine("truncated.qcow2");
        var bytes = await File.ReadAllBytesAsync(good);
        await File.WriteAllBytesAsync(truncated, bytes[..(bytes.Length / 2)]);
        var disks = new VmDiskImages(temp.Combine("disks"));

        var e = await Assert.ThrowsAsync<StrataException>(() => disks.ImportAsync(truncated, "broken", TimeProvider.System, CancellationToken.None));
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.Null(disks.Find("broken"));
        Assert.False(Directory.Exists(disks.Directory) && Directory.EnumerateFileSystemEntries(disks.Directory).Any());
    }

    [SkippableFact]
    public async Task Import_RawWithoutBootSector_IsRefused()
    {
        VmFixture.RequireEngine();
        using var temp = new TempDirectory("strata-vm-disk");
        var raw = temp.Combine("blank.raw");
        await File.WriteAllBytesAsync(raw, new byte[2 * 1024 * 1024]);
        var disks = new VmDiskImages(temp.Combine("disks"));

        var e = await Assert.ThrowsAsync<StrataException>(() => disks.ImportAsync(raw, "blank", TimeProvider.System, CancellationToken.None));
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.Contains("boot sector", e.Message, StringComparison.Ordinal);
        Assert.Null(disks.Find("blank"));
    }

    [SkippableFact]
    public async Task Boot_DebianDisk_ReachesItsMarkerAndShutsDownOnThePowerButton()
    {
        VmFixture.RequireEngine();
        TestEnvironment.Require(File.Exists(DebianDisk), $"no Debian disk at {DebianDisk}; build it with scripts/build-debian-disk.sh {DebianDisk} (downloads ~150 MB)");
        using var driver = await VmFixture.CreateDriverAsync();
        var disks = driver.Disks!;
        var name = "debian-" + Guid.NewGuid().ToString("N")[..6];
        await disks.ImportAsync(DebianDisk, name, TimeProvider.System, CancellationToken.None);
        try
        {
            await using var vm = await VmInstance.CreateAsync(driver, new InstanceSpec { Image = name, Resources = new ResourceSpec { MemoryBytes = 512L * 1024 * 1024 } });
            await vm.StartAsync();
            var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(4);
            while (!CriLogReader.ReadTail(LogFiles.LogDirectory(vm.Directory), null).Any(r => r.Text.Contains("STRATA-DEBIAN-BOOTED", StringComparison.Ordinal)))
            {
                Assert.True(DateTime.UtcNow < deadline, "the Debian guest did not print its boot marker within 4 minutes");
                await Task.Delay(250);
            }
            await driver.StopAsync(vm.Handle, TimeSpan.FromSeconds(90), CancellationToken.None);
            var exit = await vm.WaitAsync();
            Assert.Equal("stopped: the guest shut down on the ACPI power button", exit.Reason);
        }
        finally
        {
            disks.Remove(name);
        }
    }

    private static async Task HostToolRun(string file, params string[] args)
    {
        using var p = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        await p.WaitForExitAsync();
        Assert.Equal(0, p.ExitCode);
    }
}
