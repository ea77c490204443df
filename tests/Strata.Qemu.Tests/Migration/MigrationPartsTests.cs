using System.Text.Json;
using Strata.Contracts;
using Strata.Qemu.Guest;
using Strata.Qemu.Migration;

namespace Strata.Qemu.Tests.Migration;

/// <summary>The parts of a move that need no QEMU: bandwidth parsing, the same-machine check, reading query-migrate.</summary>
public sealed class MigrationPartsTests
{
    [Theory]
    [InlineData("200M", 200L * 1024 * 1024)]
    [InlineData("200MiB/s", 200L * 1024 * 1024)]
    [InlineData("1.5G", 1536L * 1024 * 1024)]
    [InlineData("512k", 512L * 1024)]
    [InlineData("1048576", 1048576L)]
    public void ParseBandwidth_SizesPerSecond(string text, long bytes) => Assert.Equal(bytes, MigrationOptions.ParseBandwidth(text));

    [Theory]
    [InlineData("fast")]
    [InlineData("0")]
    [InlineData("-5M")]
    [InlineData("10T")]
    [InlineData("")]
    public void ParseBandwidth_Nonsense_NamesTheFormat(string text)
    {
        var e = Assert.Throws<StrataException>(() => MigrationOptions.ParseBandwidth(text));
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.Contains("200M", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MachineIdentity_FromPlannedArgv_IgnoresLocalMachineProperties()
    {
        var a = MachineIdentity.FromArgv(["qemu-system-x86_64", "-M", "microvm", "-accel", "tcg", "-smp", "2", "-m", "256"]);
        var b = MachineIdentity.FromArgv(["qemu-system-x86_64", "-M", "microvm,memory-backend=mem0", "-smp", "2", "-m", "256"]);
        Assert.Equal(a, b);
        Assert.Equal(new MachineIdentity("microvm", MachineIdentity.DefaultCpu, "2", "256"), a);
        b.EnsureSameAs(a);
    }

    [Fact]
    public void MachineIdentity_DifferentCpuAndMemory_RefusedNamingBoth()
    {
        var source = MachineIdentity.FromArgv(["q", "-M", "q35", "-cpu", "Skylake-Server", "-m", "1024"]);
        var target = MachineIdentity.FromArgv(["q", "-M", "q35", "-cpu", "host", "-m", "512"]);
        var e = Assert.Throws<StrataException>(() => target.EnsureSameAs(source));
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.Contains("CPU model host instead of Skylake-Server", e.Message, StringComparison.Ordinal);
        Assert.Contains("512 MiB of RAM instead of 1024", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task IncomingVm_DifferentMachine_RefusedBeforeAnythingIsCreated()
    {
        using var dir = new TempDir();
        var options = new GuestVmOptions
        {
            Directory = dir.Combine("t"),
            KernelPath = "/k",
            InitrdPath = "/i",
            Workload = new GuestWorkload(["true"]),
            MemoryMiB = 512,
        };
        var disk = dir.Combine("t", "root.img");
        var e = await Assert.ThrowsAsync<StrataException>(() => IncomingVm.StartAsync(new IncomingRequest
        {
            Plan = QemuVm.Plan(options),
            Source = MachineIdentity.FromArgv(QemuVm.Plan(options with { MemoryMiB = 256 }).Argv),
            Disks = [new IncomingDisk("drive0", disk, "raw", 1 << 20)],
            Ram = MigrationChannel.Unix(dir.Combine("ram.sock")),
            Nbd = MigrationChannel.Unix(dir.Combine("nbd.sock")),
        }, CancellationToken.None));
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.False(File.Exists(disk));
        Assert.False(Directory.Exists(dir.Combine("t")));
    }

    [Fact]
    public void Channel_Uris()
    {
        Assert.Equal("unix:/run/x.sock", MigrationChannel.Unix("/run/x.sock").ToUri());
        Assert.Equal("tcp:10.0.0.2:4444", MigrationChannel.Tcp("10.0.0.2", 4444).ToUri());
        Assert.Equal("tcp:[fd00::2]:4444", MigrationChannel.Tcp("fd00::2", 4444).ToUri());
        Assert.Throws<StrataException>(() => MigrationChannel.Unix("relative.sock"));
        Assert.Throws<StrataException>(() => MigrationChannel.Tcp("a,b", 1));
    }

    [Fact]
    public void Status_ParsesQueryMigrate()
    {
        using var doc = JsonDocument.Parse("""
            {"status":"active","expected-downtime":120,"total-time":900,"cpu-throttle-percentage":20,
             "ram":{"transferred":1000,"remaining":2000,"total":268435456,"dirty-pages-rate":10,"page-size":4096,"mbps":800.5,"dirty-sync-count":3}}
            """);
        var s = MigrationStatus.Parse(doc.RootElement);
        Assert.Equal("active", s.Status);
        Assert.True(s.IsActive);
        Assert.Equal(40960, s.DirtyRate);
        Assert.Equal(TimeSpan.FromMilliseconds(120), s.ExpectedDowntime);
        Assert.Equal(3, s.Iterations);
        Assert.Equal(20, s.ThrottlePercent);
        var p = s.ToProgress(MigrationPhase.SendingRam, TimeSpan.FromSeconds(1), 5, 10);
        Assert.Equal(2000, p.RamRemaining);
        Assert.Equal(268435456, p.RamTotal);
        Assert.Equal(5, p.DiskCopied);
    }
}
