using System.Text.Json;
using Strata.Contracts;
using Strata.Node.Drivers.Vm;
using Strata.Node.Guest;
using Strata.Qemu.Migration;
using Strata.Testing;
using Xunit;

namespace Strata.Node.Tests.Guest;

/// <summary>
/// What the target of a live move reads of its source in both QEMU tiers (vm and sandbox): the machine's description
/// and the disks to create. No QEMU runs: these are the checks made before anything is started.
/// </summary>
public sealed class GuestLiveMoveTests : IDisposable
{
    private const string What = "the moving VM's configuration";
    private readonly TempDirectory _dir = new("strata-guest-move");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void ReadMachine_WhatTheSourceWrote_ReadsItBack()
    {
        var config = new VmConfig { Cpus = 3, MemoryMiB = 512, BaseDisk = "/var/base.raw", ImageId = "sha256:abc" };
        var json = JsonSerializer.Serialize(config, VmJsonContext.Default.VmConfig);

        Assert.Equal(config, GuestLiveMove.ReadMachine(json, VmJsonContext.Default.VmConfig, What));
    }

    [Fact]
    public void ReadMachine_NullDescription_IsRefusedAsEmpty()
    {
        var e = Assert.Throws<StrataException>(() => GuestLiveMove.ReadMachine("null", VmJsonContext.Default.VmConfig, What));

        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.Equal("machine", e.Field);
        Assert.Equal($"machine: {What} is empty", e.Message);
    }

    [Theory]
    [InlineData("{not json")]
    [InlineData("{\"cpus\":\"three\"}")]
    public void ReadMachine_UnreadableDescription_NamesItAndAsksForTheSameVersion(string machine)
    {
        var e = Assert.Throws<StrataException>(() => GuestLiveMove.ReadMachine(machine, VmJsonContext.Default.VmConfig, What));

        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.Equal("machine", e.Field);
        Assert.StartsWith($"machine: {What} is not readable (", e.Message, StringComparison.Ordinal);
        Assert.EndsWith("are both daemons the same version?", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void IncomingDisks_TheRootDisk_IsCreatedAtTheOverlayWithTheSourcesFormatAndSize()
    {
        var overlay = _dir.Combine("overlay.qcow2");

        var disks = GuestLiveMove.IncomingDisks([new MoveDisk("root", "qcow2", 1 << 30)], "root", overlay, "VM");

        Assert.Equal([new IncomingDisk("root", overlay, "qcow2", 1 << 30)], disks);
    }

    [Fact]
    public void IncomingDisks_NoDisks_IsEmpty() =>
        Assert.Empty(GuestLiveMove.IncomingDisks([], "drive0", _dir.Combine("overlay.qcow2"), "sandbox"));

    [Fact]
    public void IncomingDisks_AnotherDrive_IsRefusedNamingItAndTheRootDisk()
    {
        var e = Assert.Throws<StrataException>(() => GuestLiveMove.IncomingDisks(
            [new MoveDisk("drive0", "qcow2", 1 << 30), new MoveDisk("data", "raw", 1 << 20)], "drive0", _dir.Combine("overlay.qcow2"), "sandbox"));

        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.Equal("disks", e.Field);
        Assert.Equal("disks: the moving sandbox has a writable drive 'data'; a sandbox of this tier has only its root disk ('drive0')", e.Message);
    }

    [Fact]
    public void IncomingDisks_AFormatQemuImgIsNotAskedFor_IsRefused()
    {
        var e = Assert.Throws<StrataException>(() => GuestLiveMove.IncomingDisks(
            [new MoveDisk("root", "vmdk", 1 << 30)], "root", _dir.Combine("overlay.qcow2"), "VM"));

        Assert.Equal("disks", e.Field);
        Assert.Contains("raw or qcow2", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void IncomingDisks_AnOverlayAlreadyThere_IsAConflictAndLeftAsItIs()
    {
        var overlay = _dir.Combine("overlay.qcow2");
        File.WriteAllText(overlay, "written before");

        var e = Assert.Throws<StrataException>(() => GuestLiveMove.IncomingDisks([new MoveDisk("root", "qcow2", 1 << 30)], "root", overlay, "VM"));

        Assert.Equal(ErrorKind.Conflict, e.Kind);
        Assert.Contains(overlay, e.Message, StringComparison.Ordinal);
        Assert.Equal("written before", File.ReadAllText(overlay));
    }
}
