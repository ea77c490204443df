using System.Diagnostics;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Supervision;
using Xunit;

namespace Strata.Testing;

/// <summary>
/// The supervised tiers (process, container, sandbox, vm) share one runtime: what happens when a supervisor dies, and
/// that a recorded PID which now belongs to another process is never signalled.
/// </summary>
public abstract partial class DriverConformanceTests
{
    /// <summary>The tier runs its workloads under strata-supervisor (the shared supervised runtime).</summary>
    protected virtual bool Supervised => false;

    /// <summary>How soon after a supervisor's SIGKILL the driver must report what is true (and have stopped the workload).</summary>
    protected virtual TimeSpan LostWithin => TimeSpan.FromSeconds(1);

    /// <summary>Checks that nothing of the removed instance is left on the host; a tier adds its own resources (cgroups).</summary>
    protected virtual void AssertNothingLeft(DriverHandle handle)
    {
        if (handle.Pid is { } pid)
        {
            Assert.False(SupervisedRuntime.WorkloadAlive(handle), $"the workload (pid {pid}) still runs");
            Assert.False(ProcessCensus.GroupAlive(pid), $"a process of the workload's group {pid} still runs");
        }
        var dir = Path.GetFullPath(handle.Directory);
        Assert.DoesNotContain(File.ReadAllLines("/proc/self/mountinfo"), l => l.Contains(dir, StringComparison.Ordinal));
        Assert.DoesNotContain(ProcessCensus.Naming(dir), p => p.Pid != Environment.ProcessId);
    }

    private static void KillSupervisor(DriverHandle handle)
    {
        Assert.True(SupervisedRuntime.SupervisorAlive(handle), "the supervisor should run before it is killed");
        Assert.True(Signals.Send(handle.SupervisorPid!.Value, Signals.SIGKILL));
    }

    [SkippableFact]
    public async Task SupervisorKilled_WhileTheWorkloadRuns_WorkloadStoppedAndReportedLostWithinASecond_RemoveLeavesNothing()
    {
        RequireEngine();
        if (!Supervised)
        {
            return;
        }
        var (driver, handle) = await CreateAsync(LongRunning());
        handle = await driver.StartAsync(handle, CancellationToken.None);
        Assert.True(SupervisedRuntime.WorkloadAlive(handle));
        var waiting = WaitAsync(driver, handle);
        await Task.Delay(200); // the watch is in place
        Assert.False(waiting.IsCompleted);

        var clock = Stopwatch.StartNew();
        KillSupervisor(handle);
        var exit = await waiting;
        var noticed = clock.Elapsed;

        // What is reported is true: the workload no longer runs, and no exit code is made up.
        Assert.False(SupervisedRuntime.WorkloadAlive(handle), "reported as stopped while the workload still runs");
        Assert.True(exit.Failed);
        Assert.True(exit.ExitCodeUnknown, $"an exit code was reported ({exit.ExitCode}) that nobody saw");
        Assert.Equal(SupervisedRuntime.LostAndStopped, exit.Reason);
        Assert.True(noticed <= LostWithin, $"noticed and stopped after {noticed.TotalMilliseconds:0} ms (at most {LostWithin.TotalMilliseconds:0} ms)");

        await driver.DeleteAsync(handle, CancellationToken.None);
        AssertNothingLeft(handle);
    }

    [SkippableFact]
    public async Task SupervisorKilled_WhileTheDaemonIsDown_NextRecoverStopsTheWorkloadAndSaysSo()
    {
        RequireEngine();
        if (!Supervised || !SurvivesRestart)
        {
            return;
        }
        var (driver, handle) = await CreateAsync(LongRunning());
        handle = await driver.StartAsync(handle, CancellationToken.None);
        // The daemon is down: nobody watches. The supervisor dies; its workload keeps running, orphaned.
        KillSupervisor(handle);
        await SupervisedRuntime.Watcher.WaitForExitAsync(handle.SupervisorPid!.Value, handle.SupervisorStartTicks!.Value, CancellationToken.None);
        Assert.True(SupervisedRuntime.WorkloadAlive(handle), "the workload should outlive its supervisor until a daemon acts");

        var restarted = CreateDriver();
        var status = await restarted.RecoverAsync(handle, CancellationToken.None);
        Assert.Equal(WorkloadPhase.Lost, status.Phase);
        Assert.Equal(SupervisedRuntime.LostAndStopped, status.Reason);
        Assert.True(status.Exit is { Failed: true, ExitCodeUnknown: true });
        Assert.False(SupervisedRuntime.WorkloadAlive(handle), "recovered as lost while the workload still runs");

        await restarted.DeleteAsync(handle, CancellationToken.None);
        AssertNothingLeft(handle);
        (restarted as IDisposable)?.Dispose();
    }

    [SkippableFact]
    public async Task StopKillRemove_AfterThePidWasReused_NeverSignalTheStranger()
    {
        RequireEngine();
        if (!Supervised)
        {
            return;
        }
        // The recorded workload ran and ended; its PID now belongs to a stranger that started later.
        long recordedTicks;
        using (var ended = Process.Start("sleep", "0.1"))
        {
            recordedTicks = ProcessIdentity.TryGetStartTicks(ended.Id) ?? 1;
            await ended.WaitForExitAsync();
        }
        // Its own process group, as a workload has: a group signal to the recorded PID would reach it.
        using var stranger = Process.Start("setsid", "sleep 60");
        using var supervisor = Process.Start("sleep", "60"); // a supervisor that still lives (the stop goes as far as SIGKILL)
        try
        {
            var strangerTicks = ProcessIdentity.TryGetStartTicks(stranger.Id)!.Value;
            for (var i = 0; i < 200 && !File.ReadAllText($"/proc/{stranger.Id}/cmdline").StartsWith("sleep", StringComparison.Ordinal); i++)
            {
                await Task.Delay(10); // setsid execs sleep in place (same PID)
            }
            Assert.True(Signals.SendToGroup(stranger.Id, 0), "the stranger should lead its own process group");
            Assert.NotEqual(recordedTicks, strangerTicks);
            var driver = CreateDriver();
            var id = Guid.NewGuid().ToString("N");
            var dir = Path.Combine(Path.GetTempPath(), "strata-reuse-" + id);
            Directory.CreateDirectory(dir);
            var handle = new DriverHandle
            {
                InstanceId = id,
                Directory = dir,
                Pid = stranger.Id,
                PidStartTicks = recordedTicks,
                SupervisorPid = supervisor.Id,
                SupervisorStartTicks = ProcessIdentity.TryGetStartTicks(supervisor.Id),
            };
            try
            {
                await driver.StopAsync(handle, TimeSpan.Zero, CancellationToken.None);
                await driver.StopAsync(handle, TimeSpan.FromMilliseconds(200), CancellationToken.None);
                await driver.KillAsync(handle, Signals.SIGKILL, CancellationToken.None);
                await driver.KillAsync(handle, Signals.SIGTERM, CancellationToken.None);
                // And once the supervisor is gone too: the orphan cleanup checks the identity as well.
                supervisor.Kill();
                await supervisor.WaitForExitAsync();
                await driver.StopAsync(handle, TimeSpan.Zero, CancellationToken.None);
                await driver.KillAsync(handle, Signals.SIGKILL, CancellationToken.None);
                using var cts = new CancellationTokenSource(Timeout);
                var exit = await driver.WaitAsync(handle, cts.Token);
                Assert.True(exit.ExitCodeUnknown);
                await driver.DeleteAsync(handle, CancellationToken.None);

                Assert.True(ProcessIdentity.IsAlive(stranger.Id, strangerTicks), "the stranger that reuses the recorded PID was killed");
            }
            finally
            {
                (driver as IDisposable)?.Dispose();
                Directory.Delete(dir, recursive: true);
            }
        }
        finally
        {
            stranger.Kill();
            if (!supervisor.HasExited)
            {
                supervisor.Kill();
            }
        }
    }
}
