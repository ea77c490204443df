using Strata.Contracts;
using Strata.Testing;

namespace Strata.Sandbox.Tests;

/// <summary>
/// A sandbox's supervisor killed with SIGKILL through the published stratad (#25): with the daemon up the state is
/// 'failed: supervisor lost; workload stopped' within a second and QEMU is gone, with the daemon down the next one
/// reconciles it the same way, and rm -f leaves no QEMU, tap, mount or cgroup. While the sandbox runs, another local
/// user reaches nothing under the data root (#17 item 1 on this tier).
/// </summary>
public sealed class SandboxSupervisorLossTests
{
    [SkippableFact]
    public async Task SupervisorKilled_DaemonUpOrDown_StateIsTrueWithinASecond_RmLeavesNoQemuTapMountOrCgroup()
    {
        SandboxTestHost.RequireEngine();
        SupervisorLossScenario.RequireNetworks();
        using var scenario = new SupervisorLossScenario(["--supervisor", SandboxTestHost.Supervisor!], new Dictionary<string, string> { ["STRATA_SANDBOX_ACCEL"] = "tcg" });
        await scenario.RunAsync(
            name => new InstanceSpec { Name = name, Tier = "sandbox", Image = "busybox:latest", Network = SupervisorLossScenario.Network, Args = ["sleep", "600"] },
            prepare: client => client.BuildBaseImageAsync("busybox:latest"),
            whileRunning: _ => scenario.AnotherUserReachesNothing());
    }
}
