using System.Buffers.Binary;
using System.Net;
using Strata.Contracts;

namespace Strata.Node.Networking;

/// <summary>
/// A VM or sandbox moved live between nodes (docs/move.md, "Networked VMs and sandboxes"): the source describes its
/// membership (<see cref="MoveNetworkOf"/>), the target joins a network of the same name with the same MAC, asking for
/// the same address (<see cref="NetworkAttachRequest.PreferredAddress"/>, leased when its subnet holds it and it is free).
/// </summary>
public sealed partial class NetworkRegistry
{
    /// <summary>The tap membership of <paramref name="instanceId"/> as a move describes it (names disk not set), or null.</summary>
    public MoveNetwork? MoveNetworkOf(string instanceId)
    {
        _lock.Wait();
        try
        {
            foreach (var n in _state.Networks)
            {
                if (n.Members.FirstOrDefault(m => m.InstanceId == instanceId && m.Tap is not null && m.Address.Length > 0) is { } m)
                {
                    return new MoveNetwork { Network = n.Name, Mac = m.Mac ?? TapAttachment.MacOf(m.Address), Address = m.Address, Ports = [.. m.Ports] };
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
    /// A given MAC (a moved guest's) must not be another member's on the bridge: two NICs with one MAC break each
    /// other's traffic. Refused (409) before anything is made. Caller holds the lock.
    /// </summary>
    private static void CheckMac(NetworkRecord record, NetworkAttachRequest request)
    {
        if (request.Mac is not { } mac)
        {
            return;
        }
        if (record.Members.FirstOrDefault(m => m.InstanceId != request.InstanceId && m.Tap is not null && m.Address.Length > 0
            && string.Equals(m.Mac ?? TapAttachment.MacOf(m.Address), mac, StringComparison.OrdinalIgnoreCase)) is { } other)
        {
            throw StrataException.Conflict(other.Project == request.Project
                ? $"the NIC's MAC {mac} is already used on network '{record.Name}' by instance '{other.Name}'; the guest keeps its MAC when it moves live, so remove or recreate that instance first"
                : $"the NIC's MAC {mac} is already used on network '{record.Name}' here; the guest keeps its MAC when it moves live");
        }
    }

    /// <summary>
    /// <paramref name="preferred"/> when <paramref name="record"/>'s subnet holds it as a host address and neither a
    /// member nor a lease file has it; else null (the next free address is leased). Caller holds the lock.
    /// </summary>
    private string? FreeAddress(NetworkRecord record, string? preferred)
    {
        if (preferred is null || !IPAddress.TryParse(preferred, out var ip) || ip.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
        {
            return null;
        }
        var subnet = Ipv4Subnet.Parse(record.Subnet);
        var value = BinaryPrimitives.ReadUInt32BigEndian(ip.GetAddressBytes());
        // Not the network's own address, its gateway (the first) or its broadcast address.
        if (value <= subnet.Network + 1 || value >= subnet.Last || (value & subnet.Mask) != subnet.Network)
        {
            return null;
        }
        if (record.Members.Any(m => m.Address == preferred) || File.Exists(Path.Combine(IpamDirectory, record.Key, preferred)))
        {
            return null;
        }
        return preferred;
    }
}
