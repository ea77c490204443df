namespace Strata.Qemu.Tests;

public sealed class HostTscTests
{
    [Fact]
    public void Detect_Override_Wins() =>
        Assert.Equal(1234567, HostTsc.Detect("1234567", "cpu MHz\t\t: 2100.000\n"));

    [Fact]
    public void Detect_ModelNameWithNominalRate_UsesIt() =>
        Assert.Equal(2_600_000, HostTsc.Detect(null, "model name\t: Intel(R) Xeon(R) CPU E5-2690 v4 @ 2.60GHz\ncpu MHz\t\t: 1200.000\n"));

    [Fact]
    public void Detect_OnlyCpuMHz_UsesIt() =>
        Assert.Equal(2_099_988, HostTsc.Detect(null, "model name\t: Intel(R) Xeon(R) Processor\ncpu MHz\t\t: 2099.988\n"));

    [Fact]
    public void Detect_Nothing_ReturnsNull() => Assert.Null(HostTsc.Detect("", "flags: fpu\n"));

    [Fact]
    public void Plan_Tcg_PassesTscRate_Kvm_DoesNot()
    {
        GuestVmOptions Options(string accel) => new()
        {
            Directory = "/tmp/x", KernelPath = "/k", InitrdPath = "/i",
            Workload = new Guest.GuestWorkload(["true"]), Accel = accel, GuestTscKHz = 2_000_000,
        };
        string Append(QemuLaunchPlan p) => p.Argv[p.Argv.ToList().IndexOf("-append") + 1];
        Assert.Contains("tsc_early_khz=2000000", Append(QemuVm.Plan(Options("tcg"))), StringComparison.Ordinal);
        Assert.DoesNotContain("tsc_early_khz", Append(QemuVm.Plan(Options("kvm"))), StringComparison.Ordinal);
    }
}
