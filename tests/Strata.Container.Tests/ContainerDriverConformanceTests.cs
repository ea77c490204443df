using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Testing;
using Xunit;

namespace Strata.Container.Tests;

/// <summary>The container driver against the shared driver contract, on a busybox root filesystem and real runc.</summary>
public sealed class ContainerDriverConformanceTests(ContainerFixture fx) : DriverConformanceTests, IClassFixture<ContainerFixture>
{
    protected override IDriver CreateDriver() => fx.NewDriver();

    protected override void RequireEngine() => fx.RequireEngine();

    protected override InstanceSpec EchoAndExit(string text, int exitCode) =>
        new() { Tier = "container", Image = "busybox", Args = ["sh", "-c", $"echo {text}; exit {exitCode}"] };

    protected override bool Supervised => true;

    /// <summary>
    /// The loss is noticed at once (the supervisor's pidfd); stopping the container is <c>runc delete --force</c>, which
    /// took 1.1 s once at CI's load (docs/daemon-behavior.md, "When a supervisor dies").
    /// </summary>
    protected override TimeSpan LostWithin => TimeSpan.FromSeconds(2);

    protected override InstanceSpec LongRunning() =>
        new() { Tier = "container", Image = "busybox", Args = ["sleep", "600"] };

    /// <summary>Also no cgroup of the instance in any hierarchy, and no state in the OCI runtime.</summary>
    protected override void AssertNothingLeft(DriverHandle handle)
    {
        base.AssertNothingLeft(handle);
        var cgroups = Directory.GetDirectories("/sys/fs/cgroup").Append("/sys/fs/cgroup").Select(h => Path.Combine(h, "strata", handle.InstanceId));
        Assert.DoesNotContain(cgroups, Directory.Exists);
        Assert.False(Directory.Exists(Path.Combine(fx.StateRoot, handle.InstanceId)), "the OCI runtime still has state for the container");
    }

    protected override InstanceSpec InvalidForThisTier() =>
        new() { Tier = "container", Image = "no-such-image-anywhere", Args = ["true"] };
}
