using Strata.Contracts;
using Strata.Testing;

namespace Strata.Daemon.Tests;

/// <summary>
/// A process-tier supervisor killed with SIGKILL through the published stratad (#25), with the daemon up and with it
/// down at that moment (the next daemon reconciles it). The workload starts a <c>setsid sleep</c>, which leaves its
/// process group and session: only the instance's cgroup still holds it, and it must not outlive the loss or rm -f.
/// </summary>
public sealed class PublishedSupervisorLossTests
{
    [SkippableFact]
    public async Task SupervisorKilled_DaemonUpOrDown_StateIsTrueWithinASecond_NoProcessOutsideTheGroupSurvives()
    {
        TestEnvironment.Require(TestEnvironment.Supervisor is not null, "strata-supervisor is not built; run scripts/publish-native.sh");
        TestEnvironment.Require(TestEnvironment.IsRoot && (Directory.Exists("/sys/fs/cgroup/pids") || File.Exists("/sys/fs/cgroup/cgroup.controllers")),
            "needs root and a pids (or cgroup v2) hierarchy");
        using var scenario = new SupervisorLossScenario(["--supervisor", TestEnvironment.Supervisor!]);
        await scenario.RunAsync(
            name => new InstanceSpec { Name = name, Tier = "process", Command = ["sh", "-c", "setsid sleep 600 & exec sleep 600"] },
            detached: DetachedAsync);
    }

    /// <summary>The instance's processes outside its main process's group (the setsid sleep), once it has started.</summary>
    private static async Task<IReadOnlyList<int>> DetachedAsync(InstanceInfo info)
    {
        IReadOnlyList<int> found = [];
        await TestEnvironment.EventuallyAsync(() => (found = [.. ProcessCensus.InCgroupOf(info.Id).Where(p => GroupOf(p) is { } g && g != info.Pid)]).Count > 0,
            TimeSpan.FromSeconds(10));
        return found;
    }

    private static int? GroupOf(int pid)
    {
        try
        {
            return ProcessCensus.GroupOf(pid);
        }
        catch (InvalidOperationException)
        {
            return null; // ended meanwhile
        }
    }
}
