using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Strata.Contracts;
using Strata.Contracts.Drivers;

namespace Strata.Node.Networking;

/// <summary>
/// A VM's place on a network: a tap device on the bridge (hand it to QEMU) and the address, prefix and gateway
/// the guest configures on its own eth0. <see cref="Gateway"/> is null on an internal network (no default route).
/// </summary>
public sealed record TapAttachment(string Network, string Tap, string Address, int Prefix, string? Gateway, string? FixedMac = null)
{
    /// <summary>
    /// The NIC's MAC: a locally administered one derived from the address, unique on the bridge (QEMU's default MAC is
    /// the same for every guest), or the one the member was given (<see cref="FixedMac"/>: a guest moved live keeps its NIC's).
    /// </summary>
    public string Mac => FixedMac ?? MacOf(Address);

    /// <summary>The guest's address as the names disk tells it (<c>ADDRESS/PREFIX[,GATEWAY]</c>, the form of <c>strata.net</c>).</summary>
    public string GuestConfiguration => GuestConfigurationOf(Address, Prefix, Gateway);

    internal static string GuestConfigurationOf(string address, int prefix, string? gateway) =>
        string.Create(CultureInfo.InvariantCulture, $"{address}/{prefix}") + (gateway is null ? "" : "," + gateway);

    /// <summary>The MAC derived from <paramref name="address"/>.</summary>
    public static string MacOf(string address)
    {
        var b = System.Net.IPAddress.Parse(address).GetAddressBytes();
        return string.Create(CultureInfo.InvariantCulture, $"52:54:{b[0]:x2}:{b[1]:x2}:{b[2]:x2}:{b[3]:x2}");
    }
}

/// <summary>
/// VM members. A VM has no network namespace of its own on the host: its kernel is the namespace. So instead of
/// the bridge plugin's veth, the member gets a tap device enslaved to the network's bridge, an address from the
/// same host-local IPAM (invoked on its own, keyed by the instance id), and the firewall plugin's rules (given a
/// prevResult naming the bridge as the bridge plugin would), so same-bridge isolation holds for VMs too.
/// </summary>
public sealed partial class NetworkRegistry
{
    /// <summary>
    /// The network a sandbox or VM joins, by the container tier's rules: the one named, the default bridge when it
    /// publishes ports, else none (null). Published ports with <c>--network none|host</c> are refused (400).
    /// </summary>
    public static string? TapNetworkName(InstanceSpec spec, NetworkRegistry? registry)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.Ports is { Count: > 0 } ports)
        {
            if (spec.Network is "none" or "host")
            {
                throw StrataException.Invalid("ports", $"published ports need a network, and --network {spec.Network} has none; leave --network out (the default bridge) or name a network");
            }
            for (var i = 0; i < ports.Count; i++)
            {
                ports[i].Validate($"ports[{i}]");
            }
        }
        return spec.Network switch
        {
            "none" or "host" => null,
            null => spec.Ports is { Count: > 0 } ? registry?.DefaultNetwork ?? "strata0" : null,
            var name => name,
        };
    }

    /// <summary>
    /// The create step of a sandbox or VM joining <paramref name="networkName"/> (from <see cref="TapNetworkName"/>):
    /// its name, project and published ports, with <paramref name="namesDisk"/> as its names disk. A driver without
    /// networks refuses with a 400 on the field the network came from.
    /// </summary>
    public static Task<TapAttachment> AttachTapAsync(NetworkRegistry? registry, InstanceSpec spec, CreateRequest request, string networkName, string namesDisk, CancellationToken ct) =>
        Require(registry, spec, networkName, "--network none").AttachTapAsync(NetworkAttachRequest.For(request, spec, networkName, namesDisk), ct);

    /// <summary>
    /// Creates the instance's tap device on the network's bridge and leases it an address, with the member's
    /// outbound NAT (unless internal) and published ports. On any failure the tap, lease and rules made so far are
    /// removed before the error is thrown; a port conflict (409) is found before anything is made.
    /// <see cref="NetworkAttachRequest.HostsFile"/>, when given, is the member's names disk (<see cref="NamesDiskSize"/>
    /// bytes, see <see cref="WriteNamesDisk"/>), kept up to date from then on.
    /// </summary>
    public async Task<TapAttachment> AttachTapAsync(NetworkAttachRequest request, CancellationToken ct)
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
        try
        {
            var record = JoinableNetwork(request);
            CheckPorts(request);
            CheckMac(record, request);
            await EnsureHostAccessRulesAsync(record, ct).ConfigureAwait(false);
            var tap = TapName(request.InstanceId);
            var member = new MemberRecord
            {
                InstanceId = request.InstanceId,
                Name = request.Name,
                Project = request.Project,
                Address = "",
                Namespace = "",
                Tap = tap,
                HostsFile = request.HostsFile,
                Ports = [.. request.Ports],
                Aliases = [.. request.Aliases],
                Mac = request.Mac,
            };
            // Recorded before anything exists on the host, as for containers (PruneAsync undoes a create cut short).
            record.Members.RemoveAll(m => m.InstanceId == request.InstanceId);
            record.Members.Add(member);
            Save();
            try
            {
                await EnsureBridgeAsync(record, ct).ConfigureAwait(false);
                await DeleteTapDeviceAsync(tap).ConfigureAwait(false); // left by a daemon that died mid-create
                await MustAsync(ct, $"could not create tap device {tap}", "tuntap", "add", "dev", tap, "mode", "tap");
                await MustAsync(ct, $"could not attach {tap} to bridge {record.Bridge}", "link", "set", tap, "master", record.Bridge, "up");
                // As the bridge plugin's hairpinMode does for veths: a guest reaching its own published port through a
                // host address gets the DNATed packet back out of the port it came in on.
                await MustAsync(ct, $"could not set hairpin mode on {tap}", "link", "set", "dev", tap, "type", "bridge_slave", "hairpin", "on");
                EnableForwarding();

                var ipamJson = await IpamChain(record, FreeAddress(record, request.PreferredAddress)).AddAsync(request.InstanceId, NamespacePath(tap), ct).ConfigureAwait(false);
                var ipam = JsonSerializer.Deserialize(ipamJson, NetworkJsonContext.Default.CniResult);
                var cidr = ipam?.Ips.FirstOrDefault()?.Address ?? throw new StrataException(ErrorKind.Internal, "the CNI host-local plugin returned no address");
                var address = cidr.Split('/')[0];
                // Known from here on, so that a failure below removes the NAT rule that names the address.
                var leased = member with { Address = address };
                record.Members[record.Members.IndexOf(member)] = leased;
                member = leased;
                Save();
                // What the bridge plugin would have returned: interface 0 is the bridge (the firewall plugin's
                // same-bridge policy reads its name there), then the host end, then the guest's eth0.
                var prev = new JsonObject
                {
                    ["cniVersion"] = CniChain.Version,
                    ["interfaces"] = new JsonArray(
                        new JsonObject { ["name"] = record.Bridge },
                        new JsonObject { ["name"] = tap },
                        new JsonObject { ["name"] = "eth0", ["sandbox"] = "vm:" + request.InstanceId }),
                    ["ips"] = new JsonArray(new JsonObject { ["address"] = cidr, ["gateway"] = Ipv4Subnet.Parse(record.Subnet).Gateway, ["interface"] = 2 }),
                };
                if (!record.Internal)
                {
                    // What the bridge plugin's ipMasq makes for a container (its chain and comment names, so the same
                    // teardown removes it): outbound traffic from the member leaves with the host's address.
                    await SetupMasqueradeAsync(record.Key, request.InstanceId, address, record.Subnet, ct).ConfigureAwait(false);
                }
                // portmap needs no namespace (it only reads the guest address from prevResult and installs DNAT rules
                // on the host), so the container tier's DNAT, loopback and hairpin handling apply to taps unchanged.
                var resultJson = await TapChain(record, request.Ports).AddAsync(request.InstanceId, NamespacePath(tap), ct, prev).ConfigureAwait(false);
                record.Members[record.Members.IndexOf(member)] = member with { Address = address, CniResult = resultJson };
                Save();
                WriteHostsFiles(record);
                return new TapAttachment(record.Name, tap, address, Ipv4Subnet.Parse(record.Subnet).Prefix, record.Internal ? null : Ipv4Subnet.Parse(record.Subnet).Gateway, request.Mac);
            }
            catch
            {
                await DetachTapAsync(record, record.Members.First(m => m.InstanceId == request.InstanceId)).ConfigureAwait(false);
                throw;
            }
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>
    /// The tap of a sandbox or VM member, made again when the device is gone although the instance is still a member
    /// (the host rebooted: taps and rules are gone, the membership and the lease file are not). The member keeps its
    /// name, project, published ports and names disk; its address is leased again (the guest reads it at boot).
    /// Null when the instance is no member of any network.
    /// </summary>
    public async Task<TapAttachment?> EnsureTapAttachedAsync(string instanceId, CancellationToken ct)
    {
        if (TapAttachmentOf(instanceId) is not { } current)
        {
            return null;
        }
        if (Directory.Exists(Path.Combine("/sys/class/net", current.Tap)))
        {
            return current;
        }
        NetworkAttachRequest again;
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var record = _state.Networks.First(n => n.Members.Any(m => m.InstanceId == instanceId && m.Tap is not null));
            var member = record.Members.First(m => m.InstanceId == instanceId);
            again = new NetworkAttachRequest
            {
                InstanceId = instanceId, Name = member.Name, Project = member.Project, Network = record.Name,
                Ports = member.Ports, HostsFile = member.HostsFile, Aliases = member.Aliases, Mac = member.Mac,
            };
            // Whatever is left (rules of a crashed daemon, the lease) goes first; the tap itself is gone already.
            await DetachTapAsync(record, member).ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
        return await AttachTapAsync(again, ct).ConfigureAwait(false);
    }

    /// <summary>The tap of a VM member, or null.</summary>
    public TapAttachment? TapAttachmentOf(string instanceId)
    {
        _lock.Wait();
        try
        {
            foreach (var n in _state.Networks)
            {
                if (n.Members.FirstOrDefault(m => m.InstanceId == instanceId && m.Tap is not null) is { } m)
                {
                    var subnet = Ipv4Subnet.Parse(n.Subnet);
                    return new TapAttachment(n.Name, m.Tap!, m.Address, subnet.Prefix, n.Internal ? null : subnet.Gateway, m.Mac);
                }
            }
            return null;
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>
    /// Firewall and portmap DEL (with the cached result), NAT rules, lease release, tap removal; then the member is
    /// forgotten. Caller holds the lock.
    /// </summary>
    private async Task<IReadOnlyList<string>> DetachTapAsync(NetworkRecord record, MemberRecord member)
    {
        var errors = new List<string>();
        var cleanup = await TapChain(record, member.Ports).DeleteAsync(member.InstanceId, "", member.CniResult, CancellationToken.None).ConfigureAwait(false);
        if (member.CniResult is not null)
        {
            errors.AddRange(cleanup);
        }
        if (!record.Internal)
        {
            // Named by network and instance id; the address is recorded before the rules are made, so a create cut short is covered.
            await TeardownMasqueradeAsync(record.Key, member.InstanceId, member.Address.Length > 0 ? member.Address : null).ConfigureAwait(false);
        }
        errors.AddRange(await IpamChain(record).DeleteAsync(member.InstanceId, "", null, CancellationToken.None).ConfigureAwait(false));
        if (await DeleteTapDeviceAsync(member.Tap!).ConfigureAwait(false) is { } failed)
        {
            errors.Add(failed);
        }
        record.Members.Remove(member);
        Save();
        WriteHostsFiles(record);
        return errors;
    }

    private static async Task<string?> DeleteTapDeviceAsync(string tap)
    {
        if (!Directory.Exists(Path.Combine("/sys/class/net", tap)))
        {
            return null;
        }
        var r = await HostCommand.IpAsync(CancellationToken.None, "link", "del", tap).ConfigureAwait(false);
        return r.ExitCode == 0 ? null : $"could not remove tap device {tap}: {r.Error}";
    }

    private string TapName(string instanceId)
    {
        var room = 15 - _options.TapPrefix.Length; // IFNAMSIZ - 1
        return _options.TapPrefix + instanceId[..Math.Min(instanceId.Length, room)];
    }

    /// <summary>
    /// The bridge plugin makes the bridge when the first container joins; a VM may be first, so make it the same
    /// way (gateway address on it, up). The bridge plugin later finds it as it expects.
    /// </summary>
    private static async Task EnsureBridgeAsync(NetworkRecord record, CancellationToken ct)
    {
        if (Directory.Exists(Path.Combine("/sys/class/net", record.Bridge)))
        {
            return;
        }
        var subnet = Ipv4Subnet.Parse(record.Subnet);
        await MustAsync(ct, $"could not create bridge {record.Bridge}", "link", "add", "name", record.Bridge, "type", "bridge");
        await MustAsync(ct, $"could not address bridge {record.Bridge}", "addr", "add", $"{subnet.Gateway}/{subnet.Prefix.ToString(CultureInfo.InvariantCulture)}", "dev", record.Bridge);
        await MustAsync(ct, $"could not bring up bridge {record.Bridge}", "link", "set", record.Bridge, "up");
    }

    private static async Task MustAsync(CancellationToken ct, string what, params string[] args)
    {
        var r = await HostCommand.IpAsync(ct, args).ConfigureAwait(false);
        if (r.ExitCode != 0)
        {
            throw new StrataException(ErrorKind.Internal, $"{what}: {r.Error}");
        }
    }

    /// <param name="address">An address to lease (host-local's <c>args.cni.ips</c>), or null: the next free one.</param>
    private CniChain IpamChain(NetworkRecord record, string? address = null)
    {
        var subnet = Ipv4Subnet.Parse(record.Subnet);
        var plugin = new JsonObject
        {
            ["type"] = "host-local",
            ["ipam"] = new JsonObject
            {
                ["type"] = "host-local",
                ["dataDir"] = IpamDirectory,
                ["ranges"] = new JsonArray(new JsonArray(new JsonObject { ["subnet"] = subnet.ToString(), ["gateway"] = subnet.Gateway })),
            },
        };
        if (address is not null)
        {
            plugin["args"] = new JsonObject { ["cni"] = new JsonObject { ["ips"] = new JsonArray(address) } };
        }
        return new CniChain(_options.PluginDirectory, record.Key, [plugin]);
    }

    /// <summary>portmap (only with published ports, as for containers), then the firewall plugin.</summary>
    private CniChain TapChain(NetworkRecord record, IReadOnlyList<PortSpec> ports)
    {
        var plugins = new List<JsonObject>();
        if (PortmapPlugin(ports) is { } portmap)
        {
            plugins.Add(portmap);
        }
        plugins.Add(new JsonObject { ["type"] = "firewall", ["backend"] = "iptables", ["ingressPolicy"] = "same-bridge" });
        return new CniChain(_options.PluginDirectory, record.Key, plugins);
    }

    /// <summary>
    /// The bridge plugin's <c>ipMasq</c> for one address (its SetupIPMasq): a chain named CNI-&lt;hash of network and
    /// id&gt; that accepts traffic to the member's own subnet and masquerades the rest (multicast aside), jumped to from
    /// POSTROUTING for the member's source address. Every rule carries the plugin's comment.
    /// </summary>
    private static async Task SetupMasqueradeAsync(string network, string instanceId, string address, string subnet, CancellationToken ct)
    {
        var (chain, comment) = MasqueradeNames(network, instanceId);
        await HostCommand.RunAsync("iptables", ["-w", "-t", "nat", "-N", chain], ct: ct).ConfigureAwait(false); // exists already: fine
        string[][] rules =
        [
            ["-A", chain, "-d", subnet, "-j", "ACCEPT", "-m", "comment", "--comment", comment],
            ["-A", chain, "!", "-d", "224.0.0.0/4", "-j", "MASQUERADE", "-m", "comment", "--comment", comment],
            ["-A", "POSTROUTING", "-s", address + "/32", "-j", chain, "-m", "comment", "--comment", comment],
        ];
        foreach (var rule in rules)
        {
            // AppendUnique, as the plugin does: a rule left by a create that died halfway is not added twice (the
            // teardown deletes the POSTROUTING rule once).
            if ((await HostCommand.RunAsync("iptables", ["-w", "-t", "nat", "-C", .. rule[1..]], ct: ct).ConfigureAwait(false)).ExitCode == 0)
            {
                continue;
            }
            var r = await HostCommand.RunAsync("iptables", ["-w", "-t", "nat", .. rule], ct: ct).ConfigureAwait(false);
            if (r.ExitCode != 0)
            {
                throw new StrataException(ErrorKind.Internal, $"could not add the NAT rule for {address} ({string.Join(' ', rule)}): {r.Error}");
            }
        }
    }

    /// <summary>The bridge plugin's linux sysctl: a gateway bridge forwards (the plugin sets it for every container it attaches).</summary>
    private static void EnableForwarding()
    {
        const string path = "/proc/sys/net/ipv4/ip_forward";
        if (File.Exists(path) && File.ReadAllText(path).Trim() != "1")
        {
            File.WriteAllText(path, "1");
        }
    }
}
