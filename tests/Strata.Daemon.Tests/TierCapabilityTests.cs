using Microsoft.Extensions.DependencyInjection;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Control;
using Strata.Control.Projects;
using Strata.Policy.Advisor;

namespace Strata.Daemon.Tests;

/// <summary>
/// The daemon's drivers declare what their tiers can do, and what depends on it follows the declarations:
/// the tiers that join networks, the tiers a project may require for untrusted work, and the advisor's floor.
/// </summary>
public sealed class TierCapabilityTests
{
    [Fact]
    public async Task EveryUserTierHasOneDriver_AndTheDeclarationsMatchTheDocumentedTiers()
    {
        await using var daemon = await InProcessDaemon.StartAsync();
        ITierCapabilities tiers = daemon.Services.GetRequiredService<DriverRegistry>();

        Assert.All(TierNames.UserTiers, t => Assert.NotNull(tiers.Of(t)));
        Assert.Equal([Tier.Container, Tier.Sandbox, Tier.Vm], TierNames.UserTiers.Where(t => tiers.Of(t)!.Networks).Order());
        var untrusted = TierNames.UserTiers.Where(t => tiers.Of(t)!.HoldsUntrustedCode).Order().ToList();
        Assert.Equal([Tier.Sandbox, Tier.Vm, Tier.Wasm], untrusted);
        // The advisor's floor for untrusted code (policy) admits exactly the tiers whose drivers say they hold it.
        Assert.Equal(untrusted, TierRank.AtLeast(TierAdvisor.UntrustedFloor).Order());
    }

    [Fact]
    public async Task ProjectMinimumForUntrusted_MustBeATierThatDeclaresIt()
    {
        await using var daemon = await InProcessDaemon.StartAsync();
        var projects = daemon.Services.GetRequiredService<ProjectService>();

        var e = await Assert.ThrowsAsync<StrataException>(() => projects.CreateAsync(new CreateProjectRequest
        {
            Name = "lax", Restrictions = new ProjectRestrictions { MinimumTierForUntrusted = "container" },
        }, CancellationToken.None));
        Assert.Equal("restrictions.minimumTierForUntrusted", e.Field);
        Assert.Contains("use wasm, sandbox, vm", e.Message, StringComparison.Ordinal);
        Assert.Equal("restrictions.minimumTierForUntrusted", (await Assert.ThrowsAsync<StrataException>(() => projects.CreateAsync(new CreateProjectRequest
        {
            Name = "fakeish", Restrictions = new ProjectRestrictions { MinimumTierForUntrusted = "fake" },
        }, CancellationToken.None))).Field);

        var strict = await projects.CreateAsync(new CreateProjectRequest
        {
            Name = "strict", Restrictions = new ProjectRestrictions { MinimumTierForUntrusted = "VM" },
        }, CancellationToken.None);
        Assert.Equal("vm", strict.Restrictions.MinimumTierForUntrusted);
    }

    [Fact]
    public async Task NetworkOnATierWithoutNetworks_IsA400NamingTheTiersThatJoinThem()
    {
        await using var daemon = await InProcessDaemon.StartAsync();
        var service = daemon.Services.GetRequiredService<InstanceService>();

        var e = await Assert.ThrowsAsync<StrataException>(() => service.CreateAsync(
            new InstanceSpec { Name = "mod", Tier = "wasm", Image = "/nonexistent/app.wasm", Network = "web" }, start: false, InstanceService.DefaultProject, CancellationToken.None));
        Assert.Equal(("network", ErrorKind.InvalidArgument), (e.Field, e.Kind));
        Assert.Contains("networks and published ports work on the container, sandbox, vm tiers", e.Message, StringComparison.Ordinal);
        Assert.Empty(service.List());
    }
}
