using Strata.Contracts;
using Strata.Testing;

namespace Strata.Vm.Tests;

/// <summary>
/// A VM's supervisor killed with SIGKILL through the published stratad (#25): with the daemon up the state is
/// 'failed: supervisor lost; workload stopped' within a second and QEMU is gone, with the daemon down the next one
/// reconciles it the same way, and rm -f leaves no QEMU, tap, mount or cgroup. While the VM runs, another local user
/// reaches nothing under the data root (#17 item 1 on this tier).
/// </summary>
public sealed class VmSupervisorLossTests
{
    [SkippableFact]
    public async Task SupervisorKilled_DaemonUpOrDown_StateIsTrueWithinASecond_RmLeavesNoQemuTapMountOrCgroup()
    {
        VmDaemon.RequireBinaries();
        SupervisorLossScenario.RequireNetworks();
        using var scenario = new SupervisorLossScenario();
        await scenario.RunAsync(
            name => new InstanceSpec
            {
                Name = name, Tier = "vm", Image = "busybox:latest", Network = SupervisorLossScenario.Network, Args = ["sleep", "600"],
                Resources = new ResourceSpec { MemoryBytes = 256L * 1024 * 1024 },
            },
            prepare: client => client.BuildBaseImageAsync("busybox:latest"),
            whileRunning: _ => scenario.AnotherUserReachesNothing());
    }
}
