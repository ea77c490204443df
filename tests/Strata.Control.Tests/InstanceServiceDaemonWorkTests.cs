using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Store;

namespace Strata.Control.Tests;

/// <summary>
/// What the HTTP layer used to do itself and now asks <see cref="InstanceService"/> for: attached runs (create, hold,
/// start, undo a failed start), commits through <see cref="ICommitDriver"/>, memory logs through the lease, placement
/// through <see cref="IInstancePlacement"/>, and the decisions drivers' declared capabilities make.
/// </summary>
public sealed class InstanceServiceDaemonWorkTests
{
    private const string Project = InstanceService.DefaultProject;

    [Fact]
    public async Task RunAttached_AutoRemovedInstanceIsHeldUntilTheLeaseIsReleased()
    {
        await using var h = new InstanceServiceHarness();
        await h.InitializeAsync();

        var lease = await h.Service.RunAttachedAsync(InstanceServiceHarness.Spec("job", "exit", "3") with { AutoRemove = true }, Project, CancellationToken.None);
        var finished = await lease.Finished.WaitAsync(InstanceServiceHarness.Patience);
        Assert.Equal((InstanceState.Exited, 3), (finished.State, finished.ExitCode));
        // Still there while held: its output can still be read.
        Assert.Equal(InstanceState.Exited, h.Service.Get(Project, "job").State);

        await lease.DisposeAsync();
        await h.ExpectEventsAsync("job", "created", "started", "exited", "deleted");
        await h.StopDaemonAsync(); // waits for the removal's cleanup, which runs in the background
        await h.AssertNothingLeftAsync();
    }

    [Fact]
    public async Task RunAttached_FailedStartOfAnAutoRemovedInstance_LeavesNothing_AndTheNameIsFree()
    {
        await using var h = new InstanceServiceHarness();
        await h.InitializeAsync();

        var error = await Assert.ThrowsAsync<StrataException>(() =>
            h.Service.RunAttachedAsync(InstanceServiceHarness.Spec("nostart", "fail-start") with { AutoRemove = true }, Project, CancellationToken.None));
        Assert.Contains("fake start failure", error.Message, StringComparison.Ordinal);
        Assert.Throws<StrataException>(() => h.Service.Get(Project, "nostart"));

        // The name is free again: the same run works once the workload can start.
        var lease = await h.Service.RunAttachedAsync(InstanceServiceHarness.Spec("nostart", "exit", "0") with { AutoRemove = true }, Project, CancellationToken.None);
        Assert.Equal(0, (await lease.Finished.WaitAsync(InstanceServiceHarness.Patience)).ExitCode);
        await lease.DisposeAsync();
        await h.StopDaemonAsync();
        await h.AssertNothingLeftAsync();
    }

    [Fact]
    public async Task RunAttached_FailedStartWithoutAutoRemove_KeepsTheFailedInstance()
    {
        await using var h = new InstanceServiceHarness();
        await h.InitializeAsync();

        await Assert.ThrowsAsync<StrataException>(() => h.Service.RunAttachedAsync(InstanceServiceHarness.Spec("keep", "fail-start"), Project, CancellationToken.None));
        var failed = h.Service.Get(Project, "keep");
        Assert.Equal(InstanceState.Failed, failed.State);
        Assert.Equal(InstanceState.Failed, (await h.Store.GetAsync(failed.Id))!.State);
        // Nothing holds it: a plain remove takes it.
        await h.Service.DeleteAsync(Project, "keep", force: false, CancellationToken.None);
        await h.AssertNothingLeftAsync();
    }

    [Fact]
    public async Task Create_FailedStartOfAnAutoRemovedInstance_LeavesNothing()
    {
        await using var h = new InstanceServiceHarness();
        await h.InitializeAsync();

        var e = await Assert.ThrowsAsync<StrataException>(() => h.CreateAsync(InstanceServiceHarness.Spec("rm", "fail-start") with { AutoRemove = true }));
        Assert.Contains("fake start failure", e.Message, StringComparison.Ordinal);
        await h.StopDaemonAsync();
        await h.AssertNothingLeftAsync();
    }

    [Fact]
    public async Task Commit_HandsTheStoppedInstancesChangesAndImage_WithTheInstanceLocked()
    {
        await using var h = new InstanceServiceHarness(fake => [new CommittingStandIn(fake, Tier.Container)]);
        await h.InitializeAsync();
        var record = await h.CreateAsync(new InstanceSpec { Name = "box", Tier = "container", Image = "busybox", Args = ["sleep"] });

        var running = await Assert.ThrowsAsync<StrataException>(() => h.Service.CommitAsync(Project, "box", (_, _) => Task.FromResult(0), CancellationToken.None));
        Assert.Equal(ErrorKind.Conflict, running.Kind);
        Assert.Contains("stop it first", running.Message, StringComparison.Ordinal);

        await h.Service.StopAsync(Project, "box", TimeSpan.Zero, CancellationToken.None);
        Task<InstanceRecord>? start = null;
        var written = await h.Service.CommitAsync(Project, "box", async (image, changes) =>
        {
            // A start asked for meanwhile waits for the commit: nothing writes into the layer being read.
            start = h.Service.StartAsync(Project, "box", CancellationToken.None);
            await Task.Yield();
            Assert.False(start.IsCompleted);
            return (image, changes);
        }, CancellationToken.None);
        Assert.Equal(("busybox", Path.Combine(h.Service.InstanceDirectory(record.Id), "changes")), written);
        Assert.Equal(InstanceState.Running, (await start!.WaitAsync(InstanceServiceHarness.Patience)).State);
        await h.Service.DeleteAsync(Project, "box", force: true, CancellationToken.None);
    }

    [Fact]
    public async Task Commit_OnATierWithoutCommit_IsAConflictNamingTheTiersThatHaveIt()
    {
        await using var h = new InstanceServiceHarness(fake => [new CommittingStandIn(fake, Tier.Container)]);
        await h.InitializeAsync();
        await h.CreateAsync(InstanceServiceHarness.Spec("plain", "exit", "0"), start: false);

        var e = await Assert.ThrowsAsync<StrataException>(() => h.Service.CommitAsync(Project, "plain", (_, _) => Task.FromResult(0), CancellationToken.None));
        Assert.Equal(ErrorKind.Conflict, e.Kind);
        Assert.Contains("fake instance", e.Message, StringComparison.Ordinal);
        Assert.Contains("container instance into an image", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Lease_GivesTheDriversMemoryLog_OrTheLogDirectory()
    {
        await using var h = new InstanceServiceHarness(fake => [new MemoryLogStandIn(fake, Tier.Wasm, TimeProvider.System)]);
        await h.InitializeAsync();
        var inMemory = await h.CreateAsync(new InstanceSpec { Name = "mod", Tier = "wasm", Image = "app.wasm", Args = ["sleep"] });
        var inFiles = await h.CreateAsync(InstanceServiceHarness.Spec("files", "sleep"));

        await using (var lease = h.Service.Attach(Project, "mod"))
        {
            var log = Assert.IsType<Strata.Node.Logs.MemoryLog>(lease.MemoryLog);
            log.Write("stdout", "hi\n"u8);
            Assert.Equal(1, lease.MemoryLog!.End);
        }
        await using (var lease = h.Service.Attach(Project, "files"))
        {
            Assert.Null(lease.MemoryLog);
            Assert.Equal(Path.Combine(h.Service.InstanceDirectory(inFiles.Id), "logs"), lease.LogDirectory);
        }
        Assert.NotEqual(inMemory.Id, inFiles.Id);
        await h.Service.DeleteAsync(Project, "mod", force: true, CancellationToken.None);
        await h.Service.DeleteAsync(Project, "files", force: true, CancellationToken.None);
    }

    [Fact]
    public async Task Create_NetworkOnATierThatDeclaresNone_IsRefusedNamingTheTiersThatJoinNetworks()
    {
        await using var h = new InstanceServiceHarness(fake =>
        [
            new TierStandIn(fake, Tier.Process, new DriverCapabilities { Networks = false }),
            new TierStandIn(fake, Tier.Container, new DriverCapabilities { Networks = true }),
            new TierStandIn(fake, Tier.Vm, new DriverCapabilities { Networks = true }),
        ]);
        await h.InitializeAsync();

        var e = await Assert.ThrowsAsync<StrataException>(() => h.CreateAsync(new InstanceSpec { Name = "p", Tier = "process", Args = ["sleep"], Network = "web" }));
        Assert.Equal(("network", ErrorKind.InvalidArgument), (e.Field, e.Kind));
        Assert.Contains("the process tier does not join networks", e.Message, StringComparison.Ordinal);
        Assert.Contains("work on the container, vm tiers", e.Message, StringComparison.Ordinal);
        Assert.Equal("ports", (await Assert.ThrowsAsync<StrataException>(() => h.CreateAsync(new InstanceSpec
        {
            Name = "p", Tier = "process", Args = ["sleep"], Ports = [PortSpec.Parse("8080:80", "ports")],
        }))).Field);
        await h.AssertNothingLeftAsync();

        // The same request on a tier that declares networks gets past the check.
        var c = await h.CreateAsync(new InstanceSpec { Name = "c", Tier = "container", Image = "busybox", Args = ["sleep"], Network = "web" }, start: false);
        Assert.Equal(Tier.Container, c.Tier);
    }

    private sealed class RecordingPlacement(Tier chosen) : IInstancePlacement
    {
        public List<(Tier? Requested, string Project)> Calls { get; } = [];

        public Placement Place(InstanceSpec spec, Tier? requested, string project)
        {
            Calls.Add((requested, project));
            return new Placement { Tier = (requested ?? chosen).ToName(), ChosenBy = requested is null ? "advisor" : "request", Reasons = [] };
        }
    }

    [Fact]
    public async Task Create_AsksThePlacementOnce_WithTheTierParsedOnce_AndKeepsItsAnswer()
    {
        var placement = new RecordingPlacement(Tier.Fake);
        await using var h = new InstanceServiceHarness(placement: placement);
        await h.InitializeAsync();

        var auto = await h.CreateAsync(new InstanceSpec { Name = "auto", Tier = "auto", Args = ["sleep"] }, start: false);
        var named = await h.CreateAsync(new InstanceSpec { Name = "named", Tier = " FAKE ", Args = ["sleep"] }, start: false);

        Assert.Equal([(null, Project), (Tier.Fake, Project)], placement.Calls);
        Assert.Equal((Tier.Fake, "advisor"), (auto.Tier, auto.Placement!.ChosenBy));
        Assert.Equal((Tier.Fake, "request"), (named.Tier, named.Placement!.ChosenBy));
        Assert.Equal("fake", named.Spec.Tier);
    }

    [Fact]
    public void Registry_TwoDriversForOneTier_IsAStartupErrorNamingBoth()
    {
        var time = new TimerRecordingTimeProvider();
        var fake = new Strata.Node.Drivers.Fake.FakeDriver(time);
        var e = Assert.Throws<InvalidOperationException>(() => new DriverRegistry([fake, new TierStandIn(fake, Tier.Fake, new DriverCapabilities())]));
        Assert.Contains("two drivers are registered for tier 'fake'", e.Message, StringComparison.Ordinal);
        Assert.Contains(nameof(TierStandIn), e.Message, StringComparison.Ordinal);
        Assert.Contains("FakeDriver", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Registry_AnswersWhatEachTierDeclares()
    {
        var fake = new Strata.Node.Drivers.Fake.FakeDriver(new TimerRecordingTimeProvider());
        using var registry = new DriverRegistry([fake, new TierStandIn(fake, Tier.Vm, new DriverCapabilities { HoldsUntrustedCode = true, LiveResize = true })]);
        ITierCapabilities tiers = registry;
        Assert.Equal([Tier.Vm, Tier.Fake], tiers.Tiers.Order());
        Assert.True(tiers.Of(Tier.Vm)!.HoldsUntrustedCode);
        Assert.Null(tiers.Of(Tier.Sandbox));
    }
}
