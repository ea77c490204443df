using Microsoft.Extensions.Logging;
using Strata.Client;
using Strata.Contracts;
using Strata.Node.Supervision;
using Strata.Testing;

namespace Strata.Daemon.Tests;

/// <summary>
/// A supervisor killed with SIGKILL (the process tier through the real daemon): the state says what is true within a
/// second, no exit code is made up, and a removal leaves nothing — also when the daemon was down at that moment.
/// </summary>
public sealed class SupervisorLossTests : IDisposable
{
    private readonly TempDirectory _dir = new("strata-suplost");

    private DaemonOptions Options() => new()
    {
        Root = _dir.Combine("root"),
        Socket = _dir.Combine("s.sock"),
        Supervisor = TestEnvironment.Supervisor,
    };

    private static void RequireSupervisor() =>
        TestEnvironment.Require(TestEnvironment.Supervisor is not null, "strata-supervisor is not built; run scripts/publish-native.sh");

    private StrataClient Client() => new(new ClientOptions { Socket = _dir.Combine("s.sock") });

    [SkippableFact]
    public async Task SupervisorKilled_WhileRunning_FailedWithinASecond_WithoutExitCode_RmLeavesNoProcess()
    {
        RequireSupervisor();
        await using var host = await DaemonHost.StartAsync(Options(), l => l.SetMinimumLevel(LogLevel.Warning));
        using var client = Client();
        var created = await client.CreateAsync(new InstanceSpec { Tier = "process", Name = "orphan", Command = ["sh", "-c", "sleep 600 & exec sleep 600"], Restart = "always" });
        Assert.Equal("running", created.State);
        var pid = created.Pid!.Value;
        var supervisor = ProcessCensus.ParentOf(pid);

        var (info, noticed) = await ProcessCensus.KillAndWatchAsync(supervisor, () => client.GetAsync("orphan"), i => i.State != "running");

        Assert.Equal("failed", info.State);
        Assert.Equal(SupervisedRuntime.LostAndStopped, info.Reason);
        Assert.Null(info.ExitCode);
        Assert.True(noticed <= TimeSpan.FromSeconds(1), $"the state changed after {noticed.TotalMilliseconds:0} ms");
        Assert.False(ProcessCensus.GroupAlive(pid), "the workload's process group still runs while the state says it was stopped");
        // A failed instance is not restarted, whatever its policy: its supervisor was lost, not its workload's exit.
        await Task.Delay(300);
        Assert.Equal("failed", (await client.GetAsync("orphan")).State);

        await client.DeleteAsync("orphan", force: true);
        Assert.Empty((await client.ListAsync()).Items);
        Assert.False(ProcessCensus.GroupAlive(pid));
    }

    [SkippableFact]
    public async Task SupervisorKilled_WhileTheDaemonIsDown_NextDaemonStopsTheWorkloadAndRecordsIt()
    {
        RequireSupervisor();
        int pid;
        await using (var host = await DaemonHost.StartAsync(Options(), l => l.SetMinimumLevel(LogLevel.Warning)))
        {
            using var client = Client();
            pid = (await client.CreateAsync(new InstanceSpec { Tier = "process", Name = "away", Command = ["sleep", "600"] })).Pid!.Value;
        }
        // The daemon is down; the supervisor dies; its workload runs on, orphaned.
        var supervisor = ProcessCensus.ParentOf(pid);
        Signals.Send(supervisor, Signals.SIGKILL);
        for (var i = 0; i < 200 && ProcessCensus.Alive(supervisor); i++)
        {
            await Task.Delay(10);
        }
        Assert.True(ProcessCensus.GroupAlive(pid));

        await using (var host = await DaemonHost.StartAsync(Options(), l => l.SetMinimumLevel(LogLevel.Warning)))
        {
            using var client = Client();
            var info = await client.GetAsync("away");
            Assert.Equal("failed", info.State);
            Assert.Equal(SupervisedRuntime.LostAndStopped, info.Reason);
            Assert.Null(info.ExitCode);
            Assert.False(ProcessCensus.GroupAlive(pid), "the orphaned workload still runs after the daemon reconciled it");

            await client.DeleteAsync("away", force: true);
            Assert.Empty((await client.ListAsync()).Items);
        }
    }

    public void Dispose() => _dir.Dispose();
}
