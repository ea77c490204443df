using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Strata.Contracts;

namespace Strata.Node.Networking;

/// <summary>Published ports: the checks before a member publishes, and the portmap plugin's configuration.</summary>
public sealed partial class NetworkRegistry
{
    /// <summary>
    /// A published port must be free now (a probe bind; DNAT itself holds no socket) and not published by
    /// another instance (which the probe cannot see, for the same reason). The error names the other instance
    /// only when it is of the same project. A member may not publish on the gateway of another project's
    /// network, and is told so in the words used for an address that is not the host's (so the answer does not
    /// reveal which addresses other projects' networks have). Caller holds the lock.
    /// </summary>
    private void CheckPorts(NetworkAttachRequest request)
    {
        static bool Wildcard(string? ip) => ip is null or "0.0.0.0";
        static bool Clash(PortSpec a, PortSpec b) =>
            a.HostPort == b.HostPort && a.ProtocolName == b.ProtocolName && (Wildcard(a.HostIp) || Wildcard(b.HostIp) || a.HostIp == b.HostIp);
        var ports = request.Ports;
        for (var i = 0; i < ports.Count; i++)
        {
            var p = ports[i];
            var field = $"ports[{i}]";
            for (var j = 0; j < i; j++)
            {
                if (Clash(p, ports[j]))
                {
                    throw StrataException.Invalid(field, $"host port {p.HostPort}/{p.ProtocolName} is published twice");
                }
            }
            var endpoint = $"{p.HostIp ?? "0.0.0.0"}:{p.HostPort}/{p.ProtocolName}";
            foreach (var n in _state.Networks)
            {
                foreach (var m in n.Members)
                {
                    if (m.Ports.FirstOrDefault(q => Clash(p, q)) is { } other)
                    {
                        throw StrataException.Conflict(m.Project == request.Project
                            ? $"host port {endpoint} is already published by instance '{m.Name}' ({other}); choose another host port"
                            : $"host port {endpoint} is already published on this host; choose another host port");
                    }
                }
            }
            if (!Wildcard(p.HostIp) && IsForeignGateway(p.HostIp!, request.Project))
            {
                throw NotPublishable(field, p.HostIp!, request.Project);
            }
            using var socket = p.ProtocolName == "udp"
                ? new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp)
                : new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                socket.Bind(new IPEndPoint(Wildcard(p.HostIp) ? IPAddress.Any : IPAddress.Parse(p.HostIp!), p.HostPort));
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
                throw StrataException.Conflict($"host port {endpoint} is in use by another program on this host; choose another host port");
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressNotAvailable)
            {
                throw NotPublishable(field, p.HostIp!, request.Project);
            }
        }
    }

    private static StrataException NotPublishable(string field, string address, string project) =>
        StrataException.Invalid(field,
            $"{address} is not an address of this host that project '{project}' may publish on; use 0.0.0.0 (leave the address out), one of the host's own addresses or the gateway of one of the project's networks");

    /// <summary>Whether <paramref name="address"/> is the gateway of a network <paramref name="project"/> does not own (the default network's included).</summary>
    private bool IsForeignGateway(string address, string project)
    {
        if (project != _options.DefaultNetworkProject && Ipv4Subnet.Parse(_options.DefaultSubnet).Gateway == address)
        {
            return true;
        }
        return _state.Networks.Any(n => !Visible(n, project) && Ipv4Subnet.Parse(n.Subnet).Gateway == address);
    }

    /// <summary>The portmap plugin's configuration for <paramref name="ports"/>; null without ports.</summary>
    private static JsonObject? PortmapPlugin(IReadOnlyList<PortSpec> ports)
    {
        if (ports.Count == 0)
        {
            return null;
        }
        var mappings = new JsonArray();
        foreach (var p in ports)
        {
            var m = new JsonObject { ["hostPort"] = p.HostPort, ["containerPort"] = p.ContainerPort, ["protocol"] = p.ProtocolName };
            if (p.HostIp is { } ip && ip != "0.0.0.0")
            {
                m["hostIP"] = ip;
            }
            mappings.Add(m);
        }
        return new JsonObject
        {
            ["type"] = "portmap",
            ["capabilities"] = new JsonObject { ["portMappings"] = true },
            ["runtimeConfig"] = new JsonObject { ["portMappings"] = mappings },
        };
    }
}
