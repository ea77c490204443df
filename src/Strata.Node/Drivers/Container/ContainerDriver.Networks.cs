using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Networking;

namespace Strata.Node.Drivers.Container;

/// <summary>
/// Networks joined after create: another interface in the namespace the container got on its first network, which
/// lives from create to removal (a created, running or stopped container alike), so nothing of the runtime changes.
/// </summary>
public sealed partial class ContainerDriver
{
    public async Task<DriverHandle> ConnectNetworkAsync(DriverHandle handle, string project, string network, IReadOnlyList<string> aliases, CancellationToken cancellationToken)
    {
        var registry = ConnectableRegistry(handle, network);
        await registry.ConnectAsync(handle.InstanceId, network, aliases, cancellationToken).ConfigureAwait(false);
        LogNetworkConnected(handle.InstanceId, network);
        return WithConnections(handle, registry);
    }

    public async Task<DriverHandle> DisconnectNetworkAsync(DriverHandle handle, string project, string network, CancellationToken cancellationToken)
    {
        var registry = ConnectableRegistry(handle, network);
        await registry.DisconnectAsync(handle.InstanceId, project, network, cancellationToken).ConfigureAwait(false);
        LogNetworkDisconnected(handle.InstanceId, network);
        return WithConnections(handle, registry);
    }

    private NetworkRegistry ConnectableRegistry(DriverHandle handle, string network)
    {
        var registry = _options.Networks
            ?? throw StrataException.Invalid("network", $"there is no network '{network}' here (this driver has no networks configured)");
        if (!handle.Data.ContainsKey(NetworkKey))
        {
            throw StrataException.Invalid("network",
                "the container has no network of its own (it was created with --network none or host, or without a network), so it has no namespace to add an interface to; " +
                $"create it with --network {network}");
        }
        return registry;
    }

    /// <summary>The handle with the networks joined after create, as <c>NAME=ADDRESS,...</c> (none: the key is absent).</summary>
    private static DriverHandle WithConnections(DriverHandle handle, NetworkRegistry registry)
    {
        var data = new Dictionary<string, string>(handle.Data);
        var connected = registry.Connections(handle.InstanceId);
        if (connected.Count == 0)
        {
            data.Remove(INetworkConnectDriver.ConnectedKey);
        }
        else
        {
            data[INetworkConnectDriver.ConnectedKey] = string.Join(',', connected.Select(c => $"{c.Network}={c.Address}"));
        }
        return handle with { Data = data };
    }
}
