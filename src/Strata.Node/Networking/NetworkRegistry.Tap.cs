using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Strata.Contracts;

namespace Strata.Node.Networking;

/// <summary>
/// A VM's place on a network: a tap device on the bridge (hand it to QEMU) and the address, prefix and gateway
/// the guest configures on its own eth0. <see cref="Gateway"/> is null on an internal network (no default route).
/// </summary>
public sealed record TapAttachment(string Network, string Tap, string Address, int Prefix, string? Gateway)
{
    /// <summary>A locally administered MAC derived from the address, unique on the bridge (QEMU's default MAC is the same for every guest).</summary>
    public string Mac
    {
        get
        {
            var b = System.Net.IPAddress.Parse(Address).GetAddressBytes();
            return string.Create(CultureInfo.InvariantCulture, $"52:54:{b[0]:x2}:{b[1]:x2}:{b[2]:x2}:{b[3]:x2}");
        }
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
    /// Creates the instance's tap device on the network's bridge and leases it an address. On any failure the
    /// tap, lease and rules made so far are removed before the error is thrown. Published ports are not supported.
    /// </summary>
    public async Task<TapAttachment> AttachTapAsync(NetworkAttachRequest request, CancellationToken ct)
    {
        if (MissingReason() is { } missing)
        {
            throw new StrataException(ErrorKind.Unavailable, "networks are unavailable: " + missing);
        }
        if (request.Ports.Count > 0)
        {
            throw StrataException.Invalid("ports", "published ports work on the container tier only; drop -p or use --tier container");
        }
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var record = JoinableNetwork(request);
            var tap = TapName(request.InstanceId);
            var member = new MemberRecord
            {
                InstanceId = request.InstanceId,
                Name = request.Name,
                Project = request.Project,
                Address = "",
                Namespace = "",
                Tap = tap,
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

                var ipamJson = await IpamChain(record).AddAsync(request.InstanceId, NamespacePath(tap), ct).ConfigureAwait(false);
                var ipam = JsonSerializer.Deserialize(ipamJson, NetworkJsonContext.Default.CniResult);
                var cidr = ipam?.Ips.FirstOrDefault()?.Address ?? throw new StrataException(ErrorKind.Internal, "the CNI host-local plugin returned no address");
                var address = cidr.Split('/')[0];
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
                var resultJson = await FirewallChain(record).AddAsync(request.InstanceId, NamespacePath(tap), ct, prev).ConfigureAwait(false);
                record.Members[record.Members.IndexOf(member)] = member with { Address = address, CniResult = resultJson };
                Save();
                WriteHostsFiles(record);
                return new TapAttachment(record.Name, tap, address, Ipv4Subnet.Parse(record.Subnet).Prefix, record.Internal ? null : Ipv4Subnet.Parse(record.Subnet).Gateway);
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
                    return new TapAttachment(n.Name, m.Tap!, m.Address, subnet.Prefix, n.Internal ? null : subnet.Gateway);
                }
            }
            return null;
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Firewall DEL (with the cached result), lease release, tap removal; then the member is forgotten. Caller holds the lock.</summary>
    private async Task<IReadOnlyList<string>> DetachTapAsync(NetworkRecord record, MemberRecord member)
    {
        var errors = new List<string>();
        var cleanup = await FirewallChain(record).DeleteAsync(member.InstanceId, "", member.CniResult, CancellationToken.None).ConfigureAwait(false);
        if (member.CniResult is not null)
        {
            errors.AddRange(cleanup);
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

    private CniChain IpamChain(NetworkRecord record)
    {
        var subnet = Ipv4Subnet.Parse(record.Subnet);
        return new CniChain(_options.PluginDirectory, record.Name,
        [
            new JsonObject
            {
                ["type"] = "host-local",
                ["ipam"] = new JsonObject
                {
                    ["type"] = "host-local",
                    ["dataDir"] = IpamDirectory,
                    ["ranges"] = new JsonArray(new JsonArray(new JsonObject { ["subnet"] = subnet.ToString(), ["gateway"] = subnet.Gateway })),
                },
            },
        ]);
    }

    private CniChain FirewallChain(NetworkRecord record) =>
        new(_options.PluginDirectory, record.Name, [new JsonObject { ["type"] = "firewall", ["backend"] = "iptables", ["ingressPolicy"] = "same-bridge" }]);
}
