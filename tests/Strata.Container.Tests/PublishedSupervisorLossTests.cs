using Strata.Contracts;
using Strata.Testing;

namespace Strata.Container.Tests;

/// <summary>
/// A container's supervisor killed with SIGKILL through the published stratad (#25), on a network: with the daemon up
/// and with it down at that moment (the next daemon reconciles it); rm -f leaves no process, mount or cgroup.
/// </summary>
[Collection(ContainerCollection.Name)]
public sealed class PublishedSupervisorLossTests(ContainerFixture fx)
{
    [SkippableFact]
    public async Task SupervisorKilled_DaemonUpOrDown_StateIsTrueWithinASecond_RmLeavesNoProcessMountOrCgroup()
    {
        fx.RequireEngine();
        SupervisorLossScenario.RequireNetworks();
        using var scenario = new SupervisorLossScenario(["--supervisor", fx.Supervisor!, "--image", $"busybox={fx.Rootfs}"]);
        await scenario.RunAsync(name => new InstanceSpec
        {
            Name = name, Tier = "container", Image = "busybox", Network = SupervisorLossScenario.Network, Args = ["sh", "-c", "sleep 600 & exec sleep 600"],
        });
    }
}
