using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Store;

namespace Strata.Control.Tests;

/// <summary>
/// <see cref="InstanceService"/> built directly over the fake driver, the in-memory store and virtual time:
/// each transition is persisted and announced, and a create that fails leaves nothing behind.
/// </summary>
public sealed class InstanceServiceLifecycleTests
{
    [Fact]
    public async Task CreateStartStopRemove_PersistsEachState_AndPublishesEachTransition()
    {
        await using var h = new InstanceServiceHarness();
        await h.InitializeAsync();

        var created = await h.CreateAsync(InstanceServiceHarness.Spec("web", "sleep"), start: false);
        Assert.Equal(InstanceState.Created, created.State);
        Assert.NotNull(created.Handle);
        Assert.Equal(h.Time.GetUtcNow(), created.CreatedAt);
        Assert.Equal(InstanceState.Created, (await h.Store.GetAsync(created.Id))!.State);
        Assert.True(Directory.Exists(h.Service.InstanceDirectory(created.Id)));

        var started = await h.Service.StartAsync(InstanceService.DefaultProject, "web", CancellationToken.None);
        Assert.Equal(InstanceState.Running, started.State);
        Assert.Equal(h.Time.GetUtcNow(), started.StartedAt);
        Assert.Equal(InstanceState.Running, (await h.Store.GetAsync(created.Id))!.State);

        var stopped = await h.Service.StopAsync(InstanceService.DefaultProject, "web", TimeSpan.Zero, CancellationToken.None);
        Assert.Equal(InstanceState.Stopped, stopped.State);
        Assert.Equal(128 + 15, stopped.ExitCode);
        Assert.True(stopped.StoppedByUser);
        var stored = (await h.Store.GetAsync(created.Id))!;
        Assert.Equal((InstanceState.Stopped, 143), (stored.State, stored.ExitCode));

        await h.Service.DeleteAsync(InstanceService.DefaultProject, "web", force: false, CancellationToken.None);
        await h.AssertNothingLeftAsync();
        var missing = Assert.Throws<StrataException>(() => h.Service.Get(InstanceService.DefaultProject, "web"));
        Assert.Equal(ErrorKind.NotFound, missing.Kind);

        var events = await h.ExpectEventsAsync("web", "created", "started", "stopping", "stopped", "deleted");
        Assert.Equal(["created", "running", "stopping", "stopped", "deleted"], events.Select(e => e.State));
        Assert.Equal(143, events[3].ExitCode);
        Assert.True(events.Zip(events.Skip(1)).All(p => p.First.Sequence < p.Second.Sequence));
    }

    [Fact]
    public async Task Exit_WithoutRestartPolicy_IsRecordedWithItsCode_AndWaitReturnsIt()
    {
        await using var h = new InstanceServiceHarness();
        await h.InitializeAsync();

        var record = await h.CreateAsync(InstanceServiceHarness.Spec("job", "exit", "7"));
        var finished = await h.Service.WaitAsync(InstanceService.DefaultProject, "job", CancellationToken.None);

        Assert.Equal((InstanceState.Exited, 7, false), (finished.State, finished.ExitCode, finished.StoppedByUser));
        var stored = (await h.Store.GetAsync(record.Id))!;
        Assert.Equal((InstanceState.Exited, 7), (stored.State, stored.ExitCode));
        var events = await h.ExpectEventsAsync("job", "created", "started", "exited");
        Assert.Equal(7, events[2].ExitCode);
        Assert.Empty(h.Time.PendingTimers());
    }

    [Fact]
    public async Task Create_WhenTheDriverCreateFails_LeavesNothing_AndTheNameIsFree()
    {
        await using var h = new InstanceServiceHarness();
        await h.InitializeAsync();

        var error = await Assert.ThrowsAsync<StrataException>(() => h.CreateAsync(InstanceServiceHarness.Spec("broken", "fail-create")));
        Assert.Contains("fake create failure", error.Message, StringComparison.Ordinal);

        await h.AssertNothingLeftAsync();
        Assert.Empty(h.UnreadEvents());
        var removal = await Assert.ThrowsAsync<StrataException>(() =>
            h.Service.DeleteAsync(InstanceService.DefaultProject, "broken", force: true, CancellationToken.None));
        Assert.Equal(ErrorKind.NotFound, removal.Kind);

        var again = await h.CreateAsync(InstanceServiceHarness.Spec("broken", "sleep"), start: false);
        Assert.Equal(InstanceState.Created, again.State);
    }

    [Fact]
    public async Task Remove_AfterTheDriverStartFailed_LeavesNothing()
    {
        await using var h = new InstanceServiceHarness();
        await h.InitializeAsync();

        var error = await Assert.ThrowsAsync<StrataException>(() => h.CreateAsync(InstanceServiceHarness.Spec("nostart", "fail-start")));
        Assert.Contains("fake start failure", error.Message, StringComparison.Ordinal);
        var failed = h.Service.Get(InstanceService.DefaultProject, "nostart");
        Assert.Equal(InstanceState.Failed, failed.State);
        Assert.StartsWith("start failed: ", failed.Reason, StringComparison.Ordinal);
        Assert.Equal(InstanceState.Failed, (await h.Store.GetAsync(failed.Id))!.State);

        await h.Service.DeleteAsync(InstanceService.DefaultProject, "nostart", force: false, CancellationToken.None);

        await h.AssertNothingLeftAsync();
        await h.ExpectEventsAsync("nostart", "created", "failed", "deleted");
    }

    [Fact]
    public async Task Remove_OfAnInstanceWhoseCreateTheDaemonDiedIn_LeavesNothing()
    {
        await using var h = new InstanceServiceHarness();
        // What a daemon that died inside the driver's create leaves: a row still in 'creating', its handle and directory.
        var id = Guid.NewGuid().ToString("N");
        var directory = Path.Combine(h.Root, "instances", id);
        Directory.CreateDirectory(directory);
        var spec = InstanceServiceHarness.Spec("half", "sleep");
        var handle = await h.Driver.CreateAsync(new CreateRequest
        {
            InstanceId = id,
            Name = "half",
            Project = InstanceService.DefaultProject,
            Directory = directory,
            Spec = spec,
        }, CancellationToken.None);
        await h.Store.InsertAsync(new InstanceRecord
        {
            Id = id,
            Project = InstanceService.DefaultProject,
            Name = "half",
            Tier = Tier.Fake,
            State = InstanceState.Creating,
            Spec = spec,
            Handle = handle,
            CreatedAt = h.Time.GetUtcNow(),
            Revision = 1,
        });

        await h.InitializeAsync();

        var failed = h.Service.Get(InstanceService.DefaultProject, "half");
        Assert.Equal(InstanceState.Failed, failed.State);
        Assert.Contains("while this instance was being created", failed.Reason, StringComparison.Ordinal);
        Assert.Equal(InstanceState.Failed, (await h.Store.GetAsync(id))!.State);

        await h.Service.DeleteAsync(InstanceService.DefaultProject, "half", force: false, CancellationToken.None);

        await h.AssertNothingLeftAsync();
        await h.ExpectEventsAsync("half", "failed", "deleted");
    }
}
