using System.Text.Json;
using Strata.Contracts;

namespace Strata.Node.Networking;

/// <summary>A network an instance joined after it was created: its interface in the instance's namespace, its address and aliases.</summary>
public sealed record NetworkConnection(string Network, string Interface, string Address, IReadOnlyList<string> Aliases);

/// <summary>
/// Networks joined after create (<c>strata network connect</c>): another veth in the namespace the instance got on
/// its first network, on the other network's bridge, named <c>eth1</c>, <c>eth2</c> … The first network keeps the
/// default route and the published ports; the others give their subnet and their members' names.
/// </summary>
public sealed partial class NetworkRegistry
{
    /// <summary>The networks the instance joined after create, in the order of their interfaces.</summary>
    public IReadOnlyList<NetworkConnection> Connections(string instanceId)
    {
        _lock.Wait();
        try
        {
            return [.. Memberships(instanceId).Where(x => x.Member.Interface is not null)
                .Select(x => new NetworkConnection(x.Record.Name, x.Member.Interface!, x.Member.Address, x.Member.Aliases))
                .OrderBy(c => c.Interface, StringComparer.Ordinal)];
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>
    /// Joins a container member to another network of its project: CNI ADD on a new interface of its namespace,
    /// its name and <paramref name="aliases"/> in the hosts files of that network's members, theirs in its own.
    /// The instance must be a member already (a namespace of Strata's: created with a network). On any failure
    /// nothing of the new membership is left.
    /// </summary>
    public async Task<NetworkConnection> ConnectAsync(string instanceId, string network, IReadOnlyList<string> aliases, CancellationToken ct, string? interfaceName = null)
    {
        if (MissingReason() is { } missing)
        {
            throw new StrataException(ErrorKind.Unavailable, "networks are unavailable: " + missing);
        }
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var memberships = Memberships(instanceId).ToList();
            var first = memberships.FirstOrDefault(x => x.Member.Interface is null).Member
                ?? throw StrataException.Invalid("network",
                    "the instance has no network namespace of Strata's (it was created with --network none or host, or without a network); " +
                    "create it with --network NAME to connect it to more networks later");
            if (first.Tap is not null)
            {
                throw StrataException.Invalid("network", "a VM member's network is its one tap device; it cannot join another network after create");
            }
            var record = JoinableNetwork(new NetworkAttachRequest { InstanceId = instanceId, Name = first.Name, Project = first.Project, Network = network });
            if (memberships.Any(x => x.Record == record))
            {
                throw StrataException.Conflict($"instance '{first.Name}' is already connected to network '{network}'");
            }
            await EnsureHostAccessRulesAsync(record, ct).ConfigureAwait(false);
            var used = memberships.Select(x => x.Member.Interface ?? "eth0").ToHashSet(StringComparer.Ordinal);
            var iface = interfaceName ?? Enumerable.Range(1, 64).Select(i => "eth" + i.ToString(System.Globalization.CultureInfo.InvariantCulture))
                .FirstOrDefault(n => !used.Contains(n))
                ?? throw StrataException.Conflict($"instance '{first.Name}' is on 64 networks already; disconnect one first");
            // Recorded before anything exists on the host, as AttachAsync does: a daemon dying halfway leaves a
            // member that the instance's removal (or PruneAsync) undoes.
            var member = first with
            {
                Address = "",
                Interface = iface,
                Ports = [],
                Aliases = [.. aliases],
                CniResult = null,
            };
            record.Members.Add(member);
            Save();
            var nsPath = NamespacePath(first.Namespace);
            var chain = Chain(record, [], iface);
            try
            {
                var resultJson = await chain.AddAsync(instanceId, nsPath, ct).ConfigureAwait(false);
                var result = JsonSerializer.Deserialize(resultJson, NetworkJsonContext.Default.CniResult);
                var address = result?.Ips.FirstOrDefault()?.Address is { } a ? a.Split('/')[0]
                    : throw new StrataException(ErrorKind.Internal, "the CNI bridge plugin returned no address");
                var joined = member with { Address = address, CniResult = resultJson };
                record.Members[record.Members.IndexOf(member)] = joined;
                Save();
                WriteHostsFiles(record);
                return new NetworkConnection(record.Name, iface, address, joined.Aliases);
            }
            catch
            {
                await chain.DeleteAsync(instanceId, nsPath, null, CancellationToken.None).ConfigureAwait(false);
                record.Members.Remove(member);
                Save();
                throw;
            }
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>
    /// Leaves a network joined after create: CNI DEL of its interface, the member's names out of that network's hosts
    /// files and theirs out of its own. The network the instance was created on stays until the instance is removed.
    /// </summary>
    public async Task DisconnectAsync(string instanceId, string project, string network, CancellationToken ct)
    {
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var record = _state.Networks.FirstOrDefault(n => n.Name == network && Visible(n, project));
            if (record is null && !(network == _options.DefaultNetwork && project == _options.DefaultNetworkProject))
            {
                throw NotFound(network);
            }
            var member = record?.Members.FirstOrDefault(m => m.InstanceId == instanceId);
            if (member is null)
            {
                throw StrataException.Conflict($"the instance is not connected to network '{network}'");
            }
            if (member.Interface is null)
            {
                throw StrataException.Conflict(
                    $"network '{network}' is the one the instance was created on (its eth0, with its default route and published ports); " +
                    "it leaves it only when removed. Networks joined with 'network connect' can be left");
            }
            var errors = await LeaveAsync(record!, member).ConfigureAwait(false);
            if (errors.Count > 0)
            {
                throw new StrataException(ErrorKind.Internal, $"left network '{network}', but could not clean up: {string.Join("; ", errors)}");
            }
        }
        finally
        {
            _lock.Release();
        }
    }
}
