using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Drivers.Fake;
using Strata.Testing;

namespace Strata.Node.Tests.Drivers;

public sealed class FakeDriverConformanceTests : DriverConformanceTests
{
    // The fake keeps nothing across a daemon restart, and says so (Capabilities.SurvivesDaemonRestart).
    protected override IDriver CreateDriver() => new FakeDriver(TimeProvider.System);

    protected override InstanceSpec EchoAndExit(string text, int exitCode) =>
        exitCode == 0 ? new() { Args = ["echo", text] } : new() { Args = ["exit", exitCode.ToString(System.Globalization.CultureInfo.InvariantCulture)] };

    protected override InstanceSpec LongRunning() => new() { Args = ["sleep"] };

    protected override InstanceSpec InvalidForThisTier() => new() { Args = [] };
}
