namespace Strata.Contracts.Drivers;

/// <summary>
/// A tier whose instances can join and leave networks after they were created (the container tier: another veth
/// in the instance's network namespace). The returned handle records the networks joined (see
/// <see cref="ConnectedKey"/>), so that they show in the instance's details and survive the daemon.
/// </summary>
public interface INetworkConnectDriver
{
    /// <summary>The handle's <c>Data</c> key listing the networks joined after create: <c>NAME=ADDRESS</c>, comma-separated.</summary>
    const string ConnectedKey = "connectedNetworks";

    /// <summary>Joins <paramref name="network"/> of <paramref name="project"/>; <paramref name="aliases"/> are more names its members reach the instance by.</summary>
    Task<DriverHandle> ConnectNetworkAsync(DriverHandle handle, string project, string network, IReadOnlyList<string> aliases, CancellationToken cancellationToken);

    /// <summary>Leaves a network joined with <see cref="ConnectNetworkAsync"/>.</summary>
    Task<DriverHandle> DisconnectNetworkAsync(DriverHandle handle, string project, string network, CancellationToken cancellationToken);
}
