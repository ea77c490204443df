using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Testing;

namespace Strata.Container.Tests;

/// <summary>The container driver against the shared driver contract, on a busybox root filesystem and real runc.</summary>
public sealed class ContainerDriverConformanceTests(ContainerFixture fx) : DriverConformanceTests, IClassFixture<ContainerFixture>
{
    protected override IDriver CreateDriver() => fx.NewDriver();

    protected override void RequireEngine() => fx.RequireEngine();

    protected override InstanceSpec EchoAndExit(string text, int exitCode) =>
        new() { Tier = "container", Image = "busybox", Args = ["sh", "-c", $"echo {text}; exit {exitCode}"] };

    protected override InstanceSpec LongRunning() =>
        new() { Tier = "container", Image = "busybox", Args = ["sleep", "600"] };

    protected override InstanceSpec InvalidForThisTier() =>
        new() { Tier = "container", Image = "no-such-image-anywhere", Args = ["true"] };
}
