using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Strata.Contracts;
using Strata.Contracts.Drivers;

namespace Strata.Node.Networking;

/// <summary>
/// Container members: each gets a named network namespace with a veth on the network's bridge (the CNI bridge,
/// portmap and firewall plugins); detaching runs CNI DEL and removes the namespace.
/// </summary>
public sealed partial class NetworkRegistry
{
    /// <summary>The network the instance was created on (its eth0), or null; <see cref="Connections"/> lists those joined later.</summary>
    public NetworkAttachment? Attachment(string instanceId)
    {
        _lock.Wait();
        try
        {
            foreach (var n in _state.Networks)
            {
                if (n.Members.FirstOrDefault(m => m.InstanceId == instanceId && m.Interface is null) is { } m)
                {
                    return new NetworkAttachment(n.Name, NamespacePath(m.Namespace), m.Address, m.Ports);
                }
            }
            return null;
        }
        finally
        {
            _lock.Release();
        }
    }

    private static string NamespacePath(string name) => Path.Combine("/run/netns", name);

    /// <summary>
    /// Creates the instance's network namespace and joins it to the network. On any failure everything made so
    /// far (namespace, veth, lease, rules) is removed before the error is thrown.
    /// </summary>
    public async Task<NetworkAttachment> AttachAsync(NetworkAttachRequest request, CancellationToken ct)
    {
        if (MissingReason() is { } missing)
        {
            throw new StrataException(ErrorKind.Unavailable, "networks are unavailable: " + missing);
        }
        for (var i = 0; i < request.Ports.Count; i++)
        {
            request.Ports[i].Validate($"ports[{i}]");
        }
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        System.Diagnostics.Activity.Current?.AddEvent(new System.Diagnostics.ActivityEvent("network lock")); // the run's timeline
        try
        {
            var record = JoinableNetwork(request);
            CheckPorts(request);
            await EnsureHostAccessRulesAsync(record, ct).ConfigureAwait(false);

            var nsName = _options.NamespacePrefix + request.InstanceId;
            var nsPath = NamespacePath(nsName);
            // Recorded before anything exists on the host: if the daemon dies halfway, PruneAsync finds the
            // member (no address yet) and undoes whatever was made.
            var member = new MemberRecord
            {
                InstanceId = request.InstanceId,
                Name = request.Name,
                Project = request.Project,
                Address = "",
                Namespace = nsName,
                HostsFile = request.HostsFile,
                Ports = [.. request.Ports],
                Aliases = [.. request.Aliases],
            };
            record.Members.RemoveAll(m => m.InstanceId == request.InstanceId && m.Interface is null);
            record.Members.Add(member);
            Save();
            if (File.Exists(nsPath))
            {
                await HostCommand.IpAsync(ct, "netns", "del", nsName).ConfigureAwait(false);
            }
            var chain = Chain(record, request.Ports);
            try
            {
                await NetworkNamespaces.CreateAsync(nsName, ct).ConfigureAwait(false); // loopback up, no ip process
                System.Diagnostics.Activity.Current?.AddEvent(new System.Diagnostics.ActivityEvent("network namespace"));
                var resultJson = await chain.AddAsync(request.InstanceId, nsPath, ct).ConfigureAwait(false);
                var result = JsonSerializer.Deserialize(resultJson, NetworkJsonContext.Default.CniResult);
                var address = result?.Ips.FirstOrDefault()?.Address is { } a ? a.Split('/')[0]
                    : throw new StrataException(ErrorKind.Internal, "the CNI bridge plugin returned no address");
                record.Members[record.Members.IndexOf(member)] = member with { Address = address, CniResult = resultJson };
                Save();
                WriteHostsFiles(record);
                return new NetworkAttachment(record.Name, nsPath, address, request.Ports);
            }
            catch
            {
                await chain.DeleteAsync(request.InstanceId, nsPath, null, CancellationToken.None).ConfigureAwait(false);
                if (File.Exists(nsPath))
                {
                    NetworkNamespaces.Delete(nsName);
                }
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
    /// Leaves every network: CNI DEL of the interfaces joined later, then of the first network's (veth, lease, NAT
    /// and port rules), then the namespace. Idempotent. Returns what could not be cleaned.
    /// </summary>
    public async Task<IReadOnlyList<string>> DetachAsync(string instanceId, CancellationToken ct)
    {
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var errors = new List<string>();
            var nsName = _options.NamespacePrefix + instanceId;
            foreach (var (extra, member) in Memberships(instanceId).Where(x => x.Member.Interface is not null).ToList())
            {
                errors.AddRange(await LeaveAsync(extra, member).ConfigureAwait(false));
            }
            var record = _state.Networks.FirstOrDefault(n => n.Members.Any(m => m.InstanceId == instanceId));
            if (record is not null)
            {
                var member = record.Members.First(m => m.InstanceId == instanceId);
                if (member.Tap is not null)
                {
                    errors.AddRange(await DetachTapAsync(record, member).ConfigureAwait(false));
                    return errors;
                }
                nsName = member.Namespace;
                errors.AddRange(await LeaveAsync(record, member).ConfigureAwait(false));
            }
            if (File.Exists(NamespacePath(nsName)) && NetworkNamespaces.Delete(nsName) is { } failed)
            {
                errors.Add($"could not remove network namespace {nsName}: {failed}");
            }
            return errors;
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Every network the instance is a member of, with its membership; the caller holds the lock.</summary>
    private IEnumerable<(NetworkRecord Record, MemberRecord Member)> Memberships(string instanceId) =>
        _state.Networks.SelectMany(n => n.Members.Where(m => m.InstanceId == instanceId).Select(m => (n, m)));

    /// <summary>
    /// One veth member leaves its network: CNI DEL on its interface, the NAT rules the plugin could not find when the
    /// namespace vanished first, the record, and the hosts files of who is left. Caller holds the lock.
    /// </summary>
    private async Task<IReadOnlyList<string>> LeaveAsync(NetworkRecord record, MemberRecord member)
    {
        var errors = new List<string>();
        var nsPath = NamespacePath(member.Namespace);
        var vanished = !File.Exists(nsPath);
        var cleanup = await Chain(record, member.Ports, member.Interface).DeleteAsync(member.InstanceId, nsPath, member.CniResult, CancellationToken.None).ConfigureAwait(false);
        if (member.CniResult is not null)
        {
            errors.AddRange(cleanup); // without a cached result (a create cut short) some DELs fail by design
        }
        if (vanished && !record.Internal && member.Address.Length > 0)
        {
            await TeardownMasqueradeAsync(record.Key, member.InstanceId, member.Address).ConfigureAwait(false);
        }
        record.Members.Remove(member);
        Save();
        WriteHostsFiles(record, member.InstanceId);
        return errors;
    }

    /// <summary>
    /// The bridge plugin finds the addresses to un-masquerade on the container's eth0, so when the namespace
    /// vanished first (removed behind Strata's back) its DEL leaves the NAT rule and chain. They are named
    /// the way the plugin names them (CNI- + SHA-512 of network name and container id), so remove them here.
    /// Tap members (which have no eth0 on the host) always take this path. Without an address only the chain goes.
    /// </summary>
    private static async Task TeardownMasqueradeAsync(string network, string instanceId, string? address)
    {
        var (chain, comment) = MasqueradeNames(network, instanceId);
        if (address is not null)
        {
            await HostCommand.RunAsync("iptables", ["-w", "-t", "nat", "-D", "POSTROUTING", "-s", address + "/32", "-m", "comment", "--comment", comment, "-j", chain]).ConfigureAwait(false);
        }
        await HostCommand.RunAsync("iptables", ["-w", "-t", "nat", "-F", chain]).ConfigureAwait(false);
        await HostCommand.RunAsync("iptables", ["-w", "-t", "nat", "-X", chain]).ConfigureAwait(false);
    }

    /// <summary>The bridge plugin's names for a member's NAT chain (utils.FormatChainName) and rule comment (utils.FormatComment).</summary>
    private static (string Chain, string Comment) MasqueradeNames(string network, string instanceId)
    {
        var hash = System.Security.Cryptography.SHA512.HashData(Encoding.UTF8.GetBytes(network + instanceId));
        return (("CNI-" + Convert.ToHexStringLower(hash))[..28], $"name: \"{network}\" id: \"{instanceId}\"");
    }

    /// <summary>
    /// Joins the networks again when the instance's namespace is gone although it is still a member (the host
    /// rebooted: /run/netns, veths and rules are gone, the lease files are not): its first network, then each one
    /// it joined later, on the same interface. Returns the attachment of the first network.
    /// </summary>
    public async Task<NetworkAttachment?> EnsureAttachedAsync(string instanceId, CancellationToken ct)
    {
        NetworkAttachRequest? again = null;
        List<(string Network, string Interface, List<string> Aliases)> extras;
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var record = _state.Networks.FirstOrDefault(n => n.Members.Any(m => m.InstanceId == instanceId && m.Interface is null));
            if (record is null)
            {
                return null;
            }
            var member = record.Members.First(m => m.InstanceId == instanceId && m.Interface is null);
            if (member.Tap is not null)
            {
                return new NetworkAttachment(record.Name, "", member.Address, member.Ports); // a VM member: no namespace
            }
            if (File.Exists(NamespacePath(member.Namespace)))
            {
                return new NetworkAttachment(record.Name, NamespacePath(member.Namespace), member.Address, member.Ports);
            }
            again = new NetworkAttachRequest
            {
                InstanceId = instanceId, Name = member.Name, Project = member.Project, Network = record.Name,
                Ports = member.Ports, HostsFile = member.HostsFile, Aliases = member.Aliases,
            };
            extras = [.. Memberships(instanceId).Where(x => x.Member.Interface is not null)
                .Select(x => (x.Record.Name, x.Member.Interface!, x.Member.Aliases)).OrderBy(x => x.Item2, StringComparer.Ordinal)];
        }
        finally
        {
            _lock.Release();
        }
        await DetachAsync(instanceId, ct).ConfigureAwait(false);
        var attachment = await AttachAsync(again, ct).ConfigureAwait(false);
        foreach (var (network, iface, aliases) in extras)
        {
            await ConnectAsync(instanceId, network, aliases, ct, iface).ConfigureAwait(false);
        }
        return attachment;
    }

    /// <summary>
    /// Detaches every member that is not one of <paramref name="instanceIds"/>: what a daemon that died during a
    /// create (or a remove) leaves behind. Called once the daemon knows its instances.
    /// </summary>
    public async Task<int> PruneAsync(IReadOnlyCollection<string> instanceIds, CancellationToken ct)
    {
        var known = instanceIds.ToHashSet(StringComparer.Ordinal);
        List<string> stale;
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            stale = [.. _state.Networks.SelectMany(n => n.Members).Select(m => m.InstanceId).Where(id => !known.Contains(id))];
        }
        finally
        {
            _lock.Release();
        }
        foreach (var id in stale)
        {
            await DetachAsync(id, ct).ConfigureAwait(false);
        }
        return stale.Count;
    }

    /// <summary>
    /// The plugins of a member: a network joined later (<paramref name="interfaceName"/> set) gets no default route
    /// (the first network keeps it, as a second one would clash) and no published ports.
    /// </summary>
    private CniChain Chain(NetworkRecord record, IReadOnlyList<PortSpec> ports, string? interfaceName = null)
    {
        var subnet = Ipv4Subnet.Parse(record.Subnet);
        var plugins = new List<JsonObject>
        {
            new()
            {
                ["type"] = "bridge",
                ["bridge"] = record.Bridge,
                ["isGateway"] = true,
                ["ipMasq"] = !record.Internal,
                ["hairpinMode"] = true,
                ["ipam"] = new JsonObject
                {
                    ["type"] = "host-local",
                    ["dataDir"] = IpamDirectory,
                    ["ranges"] = new JsonArray(new JsonArray(new JsonObject { ["subnet"] = subnet.ToString(), ["gateway"] = subnet.Gateway })),
                    // An internal network has no default route: nothing beyond the bridge is reachable.
                    ["routes"] = record.Internal || interfaceName is not null ? new JsonArray() : new JsonArray(new JsonObject { ["dst"] = "0.0.0.0/0" }),
                },
            },
        };
        if (interfaceName is null && PortmapPlugin(ports) is { } portmap)
        {
            plugins.Add(portmap);
        }
        // iptables here is Debian's iptables-nft: the rules land in nftables tables, which is what the kernel runs.
        plugins.Add(new JsonObject { ["type"] = "firewall", ["backend"] = "iptables", ["ingressPolicy"] = "same-bridge" });
        return new CniChain(_options.PluginDirectory, record.Key, plugins, interfaceName ?? "eth0");
    }
}
