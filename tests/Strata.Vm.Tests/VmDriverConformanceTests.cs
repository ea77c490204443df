using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Testing;

namespace Strata.Vm.Tests;

public sealed class VmDriverConformanceTests : DriverConformanceTests
{
    protected override IDriver CreateDriver() => VmFixture.CreateDriver();

    protected override void RequireEngine() => VmFixture.RequireEngine();

    protected override InstanceSpec EchoAndExit(string text, int exitCode) => VmFixture.Busybox("sh", "-c", $"echo {text}; exit {exitCode}");

    protected override bool Supervised => true;

    protected override InstanceSpec LongRunning() => VmFixture.Busybox("sleep", "600");

    protected override InstanceSpec InvalidForThisTier() =>
        VmFixture.Busybox("true") with { Resources = new ResourceSpec { MemoryBytes = 16L * 1024 * 1024 } };

    // TCG boots take seconds on a shared host.
    protected override TimeSpan Timeout => TimeSpan.FromSeconds(120);
}
