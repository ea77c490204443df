using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Strata.Contracts;

namespace Strata.Daemon.DockerApi;

/// <summary>
/// The network side of a container-create body: the one network the container joins (<c>HostConfig.NetworkMode</c>,
/// <c>NetworkingConfig.EndpointsConfig</c> with its aliases) and its published ports (<c>HostConfig.PortBindings</c>,
/// <c>ExposedPorts</c> with <c>PublishAllPorts</c>).
/// </summary>
internal sealed partial class DockerContainerSpec
{
    private void ReadNetworkingConfig(JsonElement v)
    {
        if (v.ValueKind != JsonValueKind.Object || !v.TryGetProperty("EndpointsConfig", out var endpoints) || endpoints.ValueKind != JsonValueKind.Object)
        {
            RefuseUnlessZero("NetworkingConfig", v.ValueKind == JsonValueKind.Object && v.TryGetProperty("EndpointsConfig", out _) ? default : v);
            return;
        }
        var count = 0;
        foreach (var endpoint in endpoints.EnumerateObject())
        {
            if (++count > 1)
            {
                throw Unsupported("NetworkingConfig.EndpointsConfig", "a Strata container joins one network; give one network at create");
            }
            SetNetwork(endpoint.Name, "NetworkingConfig.EndpointsConfig");
            if (endpoint.Value.ValueKind == JsonValueKind.Object)
            {
                foreach (var setting in endpoint.Value.EnumerateObject())
                {
                    var field = $"NetworkingConfig.EndpointsConfig.{endpoint.Name}.{setting.Name}";
                    if (setting.Name == "Aliases")
                    {
                        // More names the container is reached by (Compose gives the service's name); '_' becomes '-'.
                        _aliases.AddRange((Strings(setting.Value, field) ?? []).Select(ToStrataName));
                        continue;
                    }
                    if (setting.Name is "NetworkID" or "EndpointID")
                    {
                        continue;
                    }
                    RefuseUnlessZero(field, setting.Value);
                }
            }
        }
    }

    private void SetNetwork(string mode, string field)
    {
        var network = mode switch
        {
            "default" or "bridge" => _defaultNetwork ?? "none",
            "none" or "host" => mode,
            _ when mode.StartsWith("container:", StringComparison.Ordinal) =>
                throw Unsupported(field, "a Strata container cannot share another container's network namespace; put both on one network"),
            _ => _networkName(mode),
        };
        if (_network is not null && _network != network)
        {
            throw StrataException.Invalid(field, $"'{mode}' conflicts with network '{_network}' given elsewhere; a Strata container joins one network");
        }
        _network = network;
    }

    private void ReadPortBindings(JsonElement v, string field)
    {
        if (v.ValueKind != JsonValueKind.Object)
        {
            RefuseUnlessZero(field, v);
            return;
        }
        foreach (var binding in v.EnumerateObject())
        {
            var (port, protocol) = ParsePortKey(binding.Name, $"{field}.{binding.Name}");
            if (binding.Value.ValueKind != JsonValueKind.Array)
            {
                continue;
            }
            foreach (var host in binding.Value.EnumerateArray())
            {
                var ip = host.TryGetProperty("HostIp", out var i) ? NonEmpty(i.GetString()) : null;
                var text = host.TryGetProperty("HostPort", out var h) ? NonEmpty(h.GetString()) : null;
                int hostPort;
                if (text is null || text == "0")
                {
                    hostPort = FreePort(protocol);
                }
                else if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out hostPort))
                {
                    throw Unsupported($"{field}.{binding.Name}", $"host port '{text}' is not one port number (ranges are not supported)");
                }
                var spec = new PortSpec { HostIp = ip is "0.0.0.0" or "::" ? null : ip, HostPort = hostPort, ContainerPort = port, Protocol = protocol };
                spec.Validate($"{field}.{binding.Name}");
                _ports.Add(spec);
            }
        }
    }

    internal static (int Port, string Protocol) ParsePortKey(string key, string field)
    {
        var slash = key.IndexOf('/', StringComparison.Ordinal);
        var protocol = slash < 0 ? "tcp" : key[(slash + 1)..];
        if (!int.TryParse(slash < 0 ? key : key[..slash], NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535
            || protocol is not ("tcp" or "udp"))
        {
            throw StrataException.Invalid(field, $"'{key}' is not PORT/tcp or PORT/udp");
        }
        return (port, protocol);
    }

    /// <summary>A host port nobody listens on now (Docker's "random host port").</summary>
    private static int FreePort(string protocol)
    {
        using var socket = protocol == "udp"
            ? new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp)
            : new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Any, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
