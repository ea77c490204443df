using Strata.Contracts;
using Strata.Contracts.Drivers;
using Xunit;

namespace Strata.Store.Tests;

/// <summary>
/// These numbers are on disk in every state.db. Changing one silently corrupts existing installations:
/// if this test fails, add a new value instead of renumbering.
/// </summary>
public sealed class PersistedEnumStabilityTests
{
    [Theory]
    [InlineData(Tier.Process, 1)]
    [InlineData(Tier.Container, 2)]
    [InlineData(Tier.Sandbox, 3)]
    [InlineData(Tier.Vm, 4)]
    [InlineData(Tier.Wasm, 5)]
    [InlineData(Tier.Fake, 99)]
    public void Tier_NumbersAreFrozen(Tier tier, int number) => Assert.Equal(number, (int)tier);

    [Theory]
    [InlineData(InstanceState.Pending, 1)]
    [InlineData(InstanceState.Creating, 2)]
    [InlineData(InstanceState.Created, 3)]
    [InlineData(InstanceState.Running, 4)]
    [InlineData(InstanceState.Stopping, 5)]
    [InlineData(InstanceState.Stopped, 6)]
    [InlineData(InstanceState.Exited, 7)]
    [InlineData(InstanceState.Failed, 8)]
    [InlineData(InstanceState.Deleted, 9)]
    public void InstanceState_NumbersAreFrozen(InstanceState state, int number) => Assert.Equal(number, (int)state);

    [Fact]
    public void EveryEnumValueIsPinned()
    {
        Assert.Equal(6, Enum.GetValues<Tier>().Length);
        Assert.Equal(9, Enum.GetValues<InstanceState>().Length);
        Assert.Equal(3, Enum.GetValues<WorkloadPhase>().Length);
    }

    [Fact]
    public void DriverHandle_CarriesAVersion() => Assert.Equal(1, DriverHandle.CurrentVersion);
}
