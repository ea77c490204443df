using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Testing;

namespace Strata.Sandbox.Tests;

/// <summary>The shared driver lifecycle, with real QEMU microvm guests (TCG).</summary>
public sealed class SandboxDriverConformanceTests : DriverConformanceTests
{
    protected override IDriver CreateDriver() => SandboxTestHost.CreateDriver();

    protected override void RequireEngine() => SandboxTestHost.RequireEngine();

    // A TCG boot takes 3-5 s on an idle machine and much longer on a loaded one.
    protected override TimeSpan Timeout => TimeSpan.FromSeconds(120);

    protected override InstanceSpec EchoAndExit(string text, int exitCode) =>
        new() { Tier = "sandbox", Image = "busybox", Args = ["sh", "-c", $"echo {text}; exit {exitCode}"] };

    protected override bool Supervised => true;

    protected override InstanceSpec LongRunning() => new() { Tier = "sandbox", Image = "busybox", Args = ["sleep", "600"] };

    protected override InstanceSpec InvalidForThisTier() => new() { Tier = "sandbox", Args = ["true"] };
}
