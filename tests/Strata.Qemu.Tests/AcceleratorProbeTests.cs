using System.Text.Json;
using System.Text.Json.Nodes;
using Strata.Contracts;

namespace Strata.Qemu.Tests;

public sealed class AcceleratorProbeTests : IClassFixture<GuestAssetsFixture>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(4);
    private readonly GuestAssetsFixture _assets;

    public AcceleratorProbeTests(GuestAssetsFixture assets) => _assets = assets;

    [Fact]
    public void Decide_NoDevice_Tcg() =>
        Assert.Equal("tcg", AcceleratorProbe.Decide(new KvmDeviceStatus(false, false, null), null, Timeout).Accel);

    [Fact]
    public void Decide_DeviceDoesNotOpen_TcgWithTheError()
    {
        var c = AcceleratorProbe.Decide(new KvmDeviceStatus(true, false, "Permission denied"), null, Timeout);
        Assert.Equal("tcg", c.Accel);
        Assert.Contains("Permission denied", c.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Decide_GuestBooted_Kvm()
    {
        var c = AcceleratorProbe.Decide(new KvmDeviceStatus(true, true, null), new KvmBootResult(true, false, TimeSpan.FromMilliseconds(420), null), Timeout);
        Assert.Equal("kvm", c.Accel);
        Assert.Contains("420 ms", c.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Decide_GuestHung_TcgSayingKvmDidNotBoot()
    {
        var c = AcceleratorProbe.Decide(new KvmDeviceStatus(true, true, null), new KvmBootResult(false, true, Timeout, null), Timeout);
        Assert.Equal(new AcceleratorChoice("tcg", "KVM present but a test guest did not boot within 4 s; using TCG"), c);
    }

    [Fact]
    public void Decide_QemuRefusedKvm_TcgWithQemusWords()
    {
        var c = AcceleratorProbe.Decide(new KvmDeviceStatus(true, true, null), new KvmBootResult(false, false, TimeSpan.Zero, "failed to initialize kvm"), Timeout);
        Assert.Equal("tcg", c.Accel);
        Assert.Contains("failed to initialize kvm", c.Reason, StringComparison.Ordinal);
    }

    [GuestFact]
    public async Task ProbeAsync_ThisHost_AgreesWithKvmDeviceAndCaches()
    {
        using var dir = new TempDir();
        var probe = new AcceleratorProbe(dir.Path);
        var choice = await probe.ProbeAsync(_assets.Kernel.KernelPath, _assets.Initrd, Timeout, CancellationToken.None);

        var device = AcceleratorProbe.OpenKvm("/dev/kvm");
        if (!device.Opens)
        {
            Assert.Equal("tcg", choice.Accel);
        }
        else if (choice.Accel == "tcg")
        {
            // A host with /dev/kvm whose guests hang (nested virtualization) lands here.
            Assert.StartsWith("KVM present but", choice.Reason, StringComparison.Ordinal);
        }
        else
        {
            Assert.StartsWith("KVM works", choice.Reason, StringComparison.Ordinal);
        }

        // The second call answers from the cache: prove it by editing the cached reason.
        var cacheFile = Path.Combine(dir.Path, AcceleratorProbe.CacheFileName);
        var json = JsonNode.Parse(await File.ReadAllTextAsync(cacheFile))!;
        json["Reason"] = "from the cache";
        await File.WriteAllTextAsync(cacheFile, json.ToJsonString());
        var again = await probe.ProbeAsync(_assets.Kernel.KernelPath, _assets.Initrd, Timeout, CancellationToken.None);
        Assert.Equal(new AcceleratorChoice(choice.Accel, "from the cache"), again);
    }

    [GuestFact]
    public async Task ProbeAsync_KernelChanged_ProbesAgain()
    {
        using var dir = new TempDir();
        var kernel = dir.Combine("vmlinuz");
        File.Copy(_assets.Kernel.KernelPath, kernel);
        var probe = new AcceleratorProbe(dir.Combine("cache"), kvmDevice: dir.Combine("no-kvm")); // no device: no boot needed
        Assert.Equal("tcg", (await probe.ProbeAsync(kernel, _assets.Initrd, Timeout, CancellationToken.None)).Accel);
        var cacheFile = dir.Combine("cache", AcceleratorProbe.CacheFileName);
        var json = JsonNode.Parse(await File.ReadAllTextAsync(cacheFile))!;
        json["Reason"] = "stale";
        await File.WriteAllTextAsync(cacheFile, json.ToJsonString());

        File.SetLastWriteTimeUtc(kernel, DateTime.UtcNow.AddMinutes(1));
        var choice = await probe.ProbeAsync(kernel, _assets.Initrd, Timeout, CancellationToken.None);
        Assert.NotEqual("stale", choice.Reason);
        Assert.Contains("does not exist", choice.Reason, StringComparison.Ordinal);
    }

    [GuestFact]
    public async Task BootTestGuest_UnderTcg_PrintsMarkerAndExits()
    {
        // The probe's guest itself must work, or a host with good KVM would be told to use TCG.
        using var dir = new TempDir();
        var result = await new AcceleratorProbe(dir.Path).BootTestGuestAsync("tcg", _assets.Kernel.KernelPath, _assets.Initrd, TimeSpan.FromSeconds(60), CancellationToken.None);
        Assert.True(result.Booted, result.Error ?? "timed out");
        Assert.False(result.TimedOut);
    }

    [QemuFact]
    public async Task ProbeAsync_MissingKernel_Unavailable()
    {
        using var dir = new TempDir();
        var e = await Assert.ThrowsAsync<StrataException>(() => new AcceleratorProbe(dir.Path).ProbeAsync(dir.Combine("none"), dir.Combine("none"), Timeout, CancellationToken.None));
        Assert.Equal(ErrorKind.Unavailable, e.Kind);
        Assert.Contains("linux-image-cloud-amd64", e.Message, StringComparison.Ordinal);
    }
}
