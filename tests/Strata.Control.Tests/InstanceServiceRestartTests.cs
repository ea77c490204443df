using Strata.Contracts;

namespace Strata.Control.Tests;

/// <summary>
/// Restart policies and the reconciliation after a daemon restart, on virtual time: every backoff is a timer
/// the test sees armed (with its length) and then advances past; nothing sleeps.
/// </summary>
public sealed class InstanceServiceRestartTests
{
    private static readonly TimeSpan SleepLength = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task OnFailure_RestartsAfterADoublingBackoff_UntilItsRetriesRunOut()
    {
        await using var h = new InstanceServiceHarness();
        await h.InitializeAsync();

        var record = await h.CreateAsync(InstanceServiceHarness.Spec("crashy", "exit", "3") with { Restart = "on-failure:2" });
        await h.ExpectEventsAsync("crashy", "created", "started", "exited");

        Assert.Equal(TimeSpan.FromMilliseconds(100), await h.Time.NextTimerAsync());
        var waiting = h.Service.Get(InstanceService.DefaultProject, "crashy");
        Assert.Equal((InstanceState.Exited, 3, 0), (waiting.State, waiting.ExitCode, waiting.RestartCount));
        h.Time.Advance(TimeSpan.FromMilliseconds(100));
        var first = await h.ExpectEventsAsync("crashy", "restarted", "exited");
        Assert.Equal(3, first[1].ExitCode);

        Assert.Equal(TimeSpan.FromMilliseconds(200), await h.Time.NextTimerAsync());
        h.Time.Advance(TimeSpan.FromMilliseconds(200));
        await h.ExpectEventsAsync("crashy", "restarted", "exited");

        await h.StopDaemonAsync(); // waits for the service's background work: a third restart would have armed a timer
        Assert.Empty(h.Time.PendingTimers());
        var final = h.Service.Get(InstanceService.DefaultProject, "crashy");
        Assert.Equal((InstanceState.Exited, 3, 2), (final.State, final.ExitCode, final.RestartCount));
        var stored = (await h.Store.GetAsync(record.Id))!;
        Assert.Equal((InstanceState.Exited, 3, 2), (stored.State, stored.ExitCode, stored.RestartCount));
    }

    [Fact]
    public async Task Always_RestartsAfterEveryExit_AndAStopByTheUserEndsIt()
    {
        await using var h = new InstanceServiceHarness();
        await h.InitializeAsync();

        await h.CreateAsync(InstanceServiceHarness.Spec("loop", "sleep", "5") with { Restart = "always" });
        await h.ExpectEventsAsync("loop", "created", "started");

        for (var restart = 1; restart <= 2; restart++)
        {
            Assert.Equal(SleepLength, await h.Time.NextTimerAsync()); // the workload's own run
            h.Time.Advance(SleepLength);
            var exited = await h.ExpectEventsAsync("loop", "exited");
            Assert.Equal(0, exited[0].ExitCode);

            var backoff = TimeSpan.FromMilliseconds(100 * (1 << (restart - 1)));
            Assert.Equal(backoff, await h.Time.NextTimerAsync());
            h.Time.Advance(backoff);
            await h.ExpectEventsAsync("loop", "restarted");
            Assert.Equal(restart, h.Service.Get(InstanceService.DefaultProject, "loop").RestartCount);
        }
        Assert.Equal(SleepLength, await h.Time.NextTimerAsync());

        var stopped = await h.Service.StopAsync(InstanceService.DefaultProject, "loop", TimeSpan.Zero, CancellationToken.None);
        Assert.Equal((InstanceState.Stopped, 143, true), (stopped.State, stopped.ExitCode, stopped.StoppedByUser));
        await h.ExpectEventsAsync("loop", "stopping", "stopped");
        await h.StopDaemonAsync();
        Assert.Empty(h.Time.PendingTimers());
        Assert.Equal(InstanceState.Stopped, h.Service.Get(InstanceService.DefaultProject, "loop").State);
    }

    [Fact]
    public async Task DaemonRestart_ReattachesRunningWorkloads_AndRecordsExitsThatHappenedWhileItWasDown()
    {
        await using var h = new InstanceServiceHarness();
        await h.InitializeAsync();
        var steady = await h.CreateAsync(InstanceServiceHarness.Spec("steady", "sleep"));
        var killed = await h.CreateAsync(InstanceServiceHarness.Spec("killed", "sleep"));
        var crashy = await h.CreateAsync(InstanceServiceHarness.Spec("crashy", "sleep") with { Restart = "on-failure" });

        await h.StopDaemonAsync();
        // While the daemon is down: one workload is killed (SIGKILL), one crashes (SIGABRT), time passes.
        h.Time.Advance(TimeSpan.FromMinutes(1));
        var exitTime = h.Time.GetUtcNow();
        await h.Driver.KillAsync(killed.Handle!, 9, CancellationToken.None);
        await h.Driver.KillAsync(crashy.Handle!, 6, CancellationToken.None);
        h.Time.Advance(TimeSpan.FromMinutes(1));

        await h.StartDaemonAsync();

        var stillRunning = h.Service.Get(InstanceService.DefaultProject, "steady");
        Assert.Equal((InstanceState.Running, steady.StartedAt, 0), (stillRunning.State, stillRunning.StartedAt, stillRunning.RestartCount));
        Assert.Equal(InstanceState.Running, (await h.Store.GetAsync(steady.Id))!.State);

        var exited = h.Service.Get(InstanceService.DefaultProject, "killed");
        Assert.Equal((InstanceState.Exited, 137, "signal: 9"), (exited.State, exited.ExitCode, exited.Reason));
        Assert.Equal(exitTime, exited.FinishedAt); // when it ended, not when the daemon noticed
        var stored = (await h.Store.GetAsync(killed.Id))!;
        Assert.Equal((InstanceState.Exited, 137, exitTime), (stored.State, stored.ExitCode, stored.FinishedAt));
        Assert.Equal(137, (await h.ExpectEventsAsync("killed", "exited"))[0].ExitCode);

        // The restart policy applies to an exit the daemon learns about late, too.
        Assert.Equal(134, (await h.ExpectEventsAsync("crashy", "exited"))[0].ExitCode);
        Assert.Equal(TimeSpan.FromMilliseconds(100), await h.Time.NextTimerAsync());
        h.Time.Advance(TimeSpan.FromMilliseconds(100));
        await h.ExpectEventsAsync("crashy", "restarted");
        var restarted = h.Service.Get(InstanceService.DefaultProject, "crashy");
        Assert.Equal((InstanceState.Running, 1), (restarted.State, restarted.RestartCount));

        // Reattached, not restarted: no event for it, and the new service's watcher sees its stop.
        Assert.DoesNotContain(h.UnreadEvents(), e => e.Instance == "steady");
        var stopped = await h.Service.StopAsync(InstanceService.DefaultProject, "steady", TimeSpan.Zero, CancellationToken.None);
        Assert.Equal((InstanceState.Stopped, 143), (stopped.State, stopped.ExitCode));
        await h.ExpectEventsAsync("steady", "stopping", "stopped");
    }

    [Fact]
    public async Task DaemonRestart_WhenTheDriverLostTheWorkload_MarksItFailed()
    {
        await using var h = new InstanceServiceHarness();
        await h.InitializeAsync();
        var lost = await h.CreateAsync(InstanceServiceHarness.Spec("lost", "sleep"));
        await h.StopDaemonAsync();
        await h.Driver.DeleteAsync(lost.Handle!, CancellationToken.None); // the fake driver forgets it, as after a host reboot

        await h.StartDaemonAsync();

        // No exit code was seen, so none is recorded (never an invented one).
        var failed = h.Service.Get(InstanceService.DefaultProject, "lost");
        Assert.Equal((InstanceState.Failed, (int?)null), (failed.State, failed.ExitCode));
        Assert.Contains("keeps nothing across daemon restarts", failed.Reason, StringComparison.Ordinal);
        Assert.Equal(InstanceState.Failed, (await h.Store.GetAsync(lost.Id))!.State);
        await h.ExpectEventsAsync("lost", "failed");
    }
}
