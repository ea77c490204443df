using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Store;

namespace Strata.Control;

/// <summary>Networks joined and left after create (<c>strata network connect/disconnect</c>, Docker's network connect).</summary>
public sealed partial class InstanceService
{
    /// <summary>
    /// Joins the instance to another network of its project, in any state in which its driver holds it (created,
    /// running, stopped, exited): what the driver records is stored with the instance, so a restart of the instance
    /// or of the daemon keeps it. A tier that cannot is a 400 naming the tier.
    /// </summary>
    public Task<InstanceRecord> ConnectNetworkAsync(string project, string name, string network, IReadOnlyList<string> aliases, CancellationToken cancellationToken)
    {
        for (var i = 0; i < aliases.Count; i++)
        {
            SpecValidator.ValidateName(aliases[i], $"aliases[{i}]");
        }
        return ChangeNetworksAsync(project, name, "connect", network,
            (driver, handle) => driver.ConnectNetworkAsync(handle, project, network, aliases, cancellationToken), cancellationToken);
    }

    /// <summary>Leaves a network joined with <see cref="ConnectNetworkAsync"/>.</summary>
    public Task<InstanceRecord> DisconnectNetworkAsync(string project, string name, string network, CancellationToken cancellationToken) =>
        ChangeNetworksAsync(project, name, "disconnect", network,
            (driver, handle) => driver.DisconnectNetworkAsync(handle, project, network, cancellationToken), cancellationToken);

    private async Task<InstanceRecord> ChangeNetworksAsync(string project, string name, string verb, string network,
        Func<INetworkConnectDriver, DriverHandle, Task<DriverHandle>> change, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(network))
        {
            throw StrataException.Invalid("network", "name the network, e.g. 'strata network connect backend web'");
        }
        var entry = Find(project, name);
        await entry.Lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var record = entry.Record;
            if (_drivers.Find(record.Tier) is not INetworkConnectDriver driver)
            {
                throw StrataException.Invalid("tier",
                    $"the {record.Tier.ToName()} tier cannot {verb} an instance to networks after create (only the container tier can); " +
                    $"create the instance with --network {network} instead");
            }
            if (record.Handle is null || record.State is InstanceState.Pending or InstanceState.Creating or InstanceState.Deleted)
            {
                throw StrataException.Conflict($"cannot {verb} instance '{name}': it is {record.State.ToName()}; wait until it is created");
            }
            var handle = await change(driver, record.Handle).ConfigureAwait(false);
            await CommitAsync(entry, record with { Handle = handle }, null).ConfigureAwait(false);
            return entry.Record;
        }
        finally
        {
            entry.Lock.Release();
        }
    }
}
