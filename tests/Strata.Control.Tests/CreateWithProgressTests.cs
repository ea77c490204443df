using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Drivers.Fake;

namespace Strata.Control.Tests;

/// <summary>
/// <see cref="InstanceService.CreateWithProgressAsync"/>, the work of a create operation: steps reach the progress in
/// order, and a cancel at any step (in the driver's create, or in its start) leaves nothing behind.
/// </summary>
public sealed class CreateWithProgressTests
{
    /// <summary>A tier whose start reports a boot step and then waits until it is cancelled (a guest that boots slowly).</summary>
    private sealed class SlowBootStandIn(FakeDriver inner) : TierStandIn(inner, Tier.Sandbox, new DriverCapabilities()), IDriver
    {
        public new async Task<DriverHandle> StartAsync(DriverHandle handle, CancellationToken cancellationToken)
        {
            CreateProgress.Report("boot", "booting the guest");
            await Task.Delay(Timeout.Infinite, cancellationToken);
            return handle;
        }
    }

    /// <summary>Records steps synchronously (Progress&lt;T&gt; would post them to the thread pool, out of order).</summary>
    private sealed class Steps : IProgress<CreateStep>
    {
        private readonly List<CreateStep> _seen = [];
        public Action<CreateStep>? OnStep { get; init; }

        public IReadOnlyList<string> Ids
        {
            get
            {
                lock (_seen)
                {
                    return [.. _seen.Select(s => s.Id)];
                }
            }
        }

        public void Report(CreateStep value)
        {
            lock (_seen)
            {
                _seen.Add(value);
            }
            OnStep?.Invoke(value);
        }
    }

    [Fact]
    public async Task Steps_InTheOrderTheCreateTookThem_ThenStart()
    {
        await using var h = new InstanceServiceHarness();
        await h.InitializeAsync();
        var steps = new Steps();
        var created = await h.Service.CreateWithProgressAsync(InstanceServiceHarness.Spec("web", "steps", "2", "0", "sleep"), start: true, InstanceService.DefaultProject, steps, CancellationToken.None);
        Assert.Equal(InstanceState.Running, created.State);
        Assert.Equal(["fake-1", "fake-2", "start"], steps.Ids);
        // Outside the operation nothing reports: a plain create of the same script goes nowhere.
        await h.CreateAsync(InstanceServiceHarness.Spec("plain", "steps", "2", "0", "sleep"));
        Assert.Equal(3, steps.Ids.Count);
    }

    [Fact]
    public async Task CancelInTheDriversCreate_NothingLeft()
    {
        await using var h = new InstanceServiceHarness();
        await h.InitializeAsync();
        using var cancel = new CancellationTokenSource();
        var steps = new Steps { OnStep = s => { if (s.Id == "fake-2") cancel.Cancel(); } };
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => h.Service.CreateWithProgressAsync(
            InstanceServiceHarness.Spec("half", "steps", "3", "0", "sleep"), start: true, InstanceService.DefaultProject, steps, cancel.Token));
        Assert.Equal(["fake-1", "fake-2"], steps.Ids);
        await h.AssertNothingLeftAsync();
    }

    [Fact]
    public async Task CancelDuringTheStart_TheCreatedInstanceIsRemovedAgain()
    {
        await using var h = new InstanceServiceHarness(fake => [new SlowBootStandIn(fake)]);
        await h.InitializeAsync();
        using var cancel = new CancellationTokenSource();
        var steps = new Steps { OnStep = s => { if (s.Id == "boot") cancel.Cancel(); } };
        var spec = InstanceServiceHarness.Spec("guest", "sleep") with { Tier = "sandbox" };
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            h.Service.CreateWithProgressAsync(spec, start: true, InstanceService.DefaultProject, steps, cancel.Token));
        Assert.Equal(["start", "boot"], steps.Ids);
        await h.AssertNothingLeftAsync();
    }

    [Fact]
    public async Task AStartThatFailsOnItsOwn_KeepsTheFailedInstance_AsAPlainCreateDoes()
    {
        await using var h = new InstanceServiceHarness();
        await h.InitializeAsync();
        await Assert.ThrowsAsync<StrataException>(() => h.Service.CreateWithProgressAsync(
            InstanceServiceHarness.Spec("broken", "fail-start"), start: true, InstanceService.DefaultProject, new Steps(), CancellationToken.None));
        Assert.Equal(InstanceState.Failed, h.Service.Get(InstanceService.DefaultProject, "broken").State);
    }
}
