using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Contracts.Host;

namespace Strata.Node.Networking;

/// <summary>What joins an instance to a network.</summary>
public sealed record NetworkAttachRequest
{
    public required string InstanceId { get; init; }
    /// <summary>The name other members resolve (through the managed hosts file).</summary>
    public required string Name { get; init; }
    public required string Project { get; init; }
    public required string Network { get; init; }
    public IReadOnlyList<PortSpec> Ports { get; init; } = [];
    /// <summary>A file Strata keeps up to date with the names of the network's members; bind-mounted as /etc/hosts.</summary>
    public string? HostsFile { get; init; }
    /// <summary>More names the member is reached by, beside <see cref="Name"/>.</summary>
    public IReadOnlyList<string> Aliases { get; init; } = [];
    /// <summary>A tap member's NIC MAC when it is given, not derived from its address: a guest moved live keeps its NIC's.</summary>
    public string? Mac { get; init; }
    /// <summary>The address a tap member asks for (a guest moved live keeps its address when it can): leased when the subnet holds it and it is free, else another.</summary>
    public string? PreferredAddress { get; init; }

    /// <summary>The join of an instance being created: its id, name, project and published ports.</summary>
    public static NetworkAttachRequest For(CreateRequest request, InstanceSpec spec, string network, string hostsFile) => new()
    {
        InstanceId = request.InstanceId,
        Name = request.Name,
        Project = request.Project,
        Network = network,
        Ports = spec.Ports ?? [],
        HostsFile = hostsFile,
        Aliases = spec.NetworkAliases ?? [],
    };
}

/// <summary>An instance's place on a network: its named namespace (give it to the runtime) and its address.</summary>
public sealed record NetworkAttachment(string Network, string NamespacePath, string Address, IReadOnlyList<PortSpec> Ports);

/// <summary>
/// The networks of this node: bridge networks built with the standard CNI plugins (bridge + host-local IPAM +
/// portmap + firewall with same-bridge isolation). Each attached instance gets a named network namespace
/// (<c>/run/netns/&lt;prefix&gt;&lt;instance id&gt;</c>) with a veth on the network's bridge; detaching runs CNI DEL
/// and removes the namespace. Every mutation is serialised and persisted in <c>networks.json</c>.
/// </summary>
public sealed partial class NetworkRegistry : IDisposable
{
    private const string IsolationComment = "CNI firewall plugin rules (ingressPolicy: same-bridge)";

    /// <summary>
    /// The registry a create needs to join <paramref name="networkName"/>; a driver without networks refuses with a
    /// 400 on the field the network came from, naming <paramref name="alternatives"/>.
    /// </summary>
    public static NetworkRegistry Require(NetworkRegistry? registry, InstanceSpec spec, string networkName, string alternatives) =>
        registry ?? throw StrataException.Invalid(spec.Network is null ? "ports" : "network",
            $"there is no network '{networkName}' here (this driver has no networks configured); use {alternatives}");

    private readonly NetworkOptions _options;
    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly string _stateFile;
    private NetworkState _state;

    public NetworkRegistry(NetworkOptions options)
    {
        _options = options;
        Directory.CreateDirectory(options.StateDirectory);
        _stateFile = Path.Combine(options.StateDirectory, "networks.json");
        _state = Load(_stateFile);
    }

    public string DefaultNetwork => _options.DefaultNetwork;

    private string IpamDirectory => Path.Combine(_options.StateDirectory, "ipam");

    /// <summary>Why attaching cannot work on this host, or null when it can.</summary>
    public string? MissingReason()
    {
        foreach (var plugin in new[] { "bridge", "host-local", "portmap", "firewall" })
        {
            if (!File.Exists(Path.Combine(_options.PluginDirectory, plugin)))
            {
                return $"the CNI plugin '{plugin}' is missing from {_options.PluginDirectory}; apt-get install containernetworking-plugins";
            }
        }
        if (!File.Exists("/usr/sbin/iptables") && !File.Exists("/sbin/iptables"))
        {
            return "iptables is not installed; apt-get install iptables";
        }
        return null;
    }

    // ---------------------------------------------------------------- networks

    [GeneratedRegex("^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")]
    private static partial Regex NamePattern();

    public static void ValidateName(string? name, string field = "name")
    {
        if (name is null || !NamePattern().IsMatch(name))
        {
            throw StrataException.Invalid(field, $"'{name}' is not a network name; use 1-32 of a-z, 0-9 and '-', starting and ending with a letter or digit");
        }
        if (name is "none" or "host")
        {
            throw StrataException.Invalid(field, $"'{name}' is reserved (--network {name} is a mode, not a network)");
        }
    }

    /// <summary>
    /// Creates a network of <paramref name="project"/>. Names are unique per project (as instance names are); subnets
    /// are unique on the host, and an overlap with another project's network does not say which subnet it hit
    /// unless <paramref name="hostAdmin"/> asks. <see cref="CreateNetworkRequest.AllowHost"/> needs a host administrator.
    /// </summary>
    public async Task<NetworkInfo> CreateAsync(CreateNetworkRequest request, string project, CancellationToken ct, bool hostAdmin = false)
    {
        ValidateName(request.Name);
        if (request.AllowHost && !hostAdmin)
        {
            throw new StrataException(ErrorKind.Forbidden,
                "allowHost (members reach services on the host's own addresses) is for host administrators; ask one to create the network with --allow-host");
        }
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (request.Name == _options.DefaultNetwork || _state.Networks.Any(n => n.Name == request.Name && Visible(n, project)))
            {
                throw StrataException.Conflict($"a network named '{request.Name}' exists already; choose another name or remove it first");
            }
            var taken = TakenSubnets(project, hostAdmin);
            var ours = _state.Networks.Select(n => n.Bridge).ToHashSet();
            var routes = Ipv4Subnet.HostRoutes().Where(r => !ours.Contains(r.Device)).ToList();
            Ipv4Subnet subnet;
            if (request.Subnet is { } text)
            {
                subnet = Ipv4Subnet.Parse(text);
                if (taken.FirstOrDefault(t => t.Subnet.Overlaps(subnet)) is { Owner: { } owner } clash)
                {
                    throw StrataException.Conflict(owner.Length > 0
                        ? $"subnet {subnet} overlaps {clash.Subnet}, used by {owner}; choose another --subnet"
                        : $"subnet {subnet} overlaps a subnet in use on this host; choose another --subnet, or leave it out for a free one");
                }
                if (routes.FirstOrDefault(r => r.Subnet.Overlaps(subnet)) is { Device: not null } route)
                {
                    throw StrataException.Conflict($"subnet {subnet} overlaps {route.Subnet} routed via {route.Device} on this host; choose another --subnet");
                }
            }
            else
            {
                subnet = FreeSubnet([.. taken.Select(t => t.Subnet)], [.. routes.Select(r => r.Subnet)]);
            }
            var record = new NetworkRecord
            {
                Name = request.Name,
                Project = project,
                CniName = UniqueCniName(request.Name, project),
                Subnet = subnet.ToString(),
                Bridge = FreeBridge(),
                Internal = request.Internal,
                AllowHost = request.AllowHost,
                CreatedAt = DateTimeOffset.UtcNow,
            };
            _state.Networks.Add(record);
            Save();
            return ToInfo(record, project);
        }
        finally
        {
            _lock.Release();
        }
    }

    private Ipv4Subnet FreeSubnet(List<Ipv4Subnet> taken, List<Ipv4Subnet> routes)
    {
        var pool = Ipv4Subnet.Parse(_options.SubnetPool, "subnet pool");
        var count = (int)Math.Min(((ulong)pool.Last - pool.Network + 1) / 256, int.MaxValue);
        for (var i = 0; i < count; i++)
        {
            // From the node's own start, wrapping around (see NodeScope.SubnetPoolStart).
            var s = new Ipv4Subnet(pool.Network + (uint)((i + _options.SubnetPoolStart) % count) * 256, 24);
            if (!taken.Any(t => t.Overlaps(s)) && !routes.Any(r => r.Overlaps(s)))
            {
                return s;
            }
        }
        throw StrataException.Conflict($"every /24 of {pool} is in use; pass --subnet");
    }

    private string FreeBridge()
    {
        for (var n = 1; ; n++)
        {
            var name = _options.BridgePrefix + n.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (_state.Networks.All(r => r.Bridge != name) && !Directory.Exists(Path.Combine("/sys/class/net", name)))
            {
                return name;
            }
        }
    }

    private NetworkRecord DefaultRecord() => new()
    {
        Name = _options.DefaultNetwork,
        Subnet = Ipv4Subnet.Parse(_options.DefaultSubnet).ToString(),
        Bridge = _options.BridgePrefix + "0",
        CniName = _options.CniNamePrefix.Length > 0 ? _options.CniNamePrefix + _options.DefaultNetwork : null,
        Default = true,
        CreatedAt = DateTimeOffset.UtcNow,
    };

    /// <summary>The networks a project may see: its own, and for the default project the default network (always listed).</summary>
    public IReadOnlyList<NetworkInfo> List(string project)
    {
        _lock.Wait();
        try
        {
            var list = new List<NetworkInfo>();
            if (project == _options.DefaultNetworkProject && _state.Networks.All(n => n.Name != _options.DefaultNetwork))
            {
                list.Add(ToInfo(DefaultRecord(), project));
            }
            list.AddRange(_state.Networks.Where(n => Visible(n, project)).Select(n => ToInfo(n, project)));
            return list;
        }
        finally
        {
            _lock.Release();
        }
    }

    public NetworkInfo Get(string name, string project) =>
        List(project).FirstOrDefault(n => n.Name == name) ?? throw NotFound(name);

    /// <summary>
    /// The network a member joins, under the lock: the named network of its project, or the default one (made
    /// on first use) for the default project only — one bridge shared by projects would let them reach each other.
    /// </summary>
    private NetworkRecord JoinableNetwork(NetworkAttachRequest request)
    {
        if (request.Network == _options.DefaultNetwork && request.Project != _options.DefaultNetworkProject)
        {
            throw new StrataException(ErrorKind.Forbidden,
                $"the default network '{_options.DefaultNetwork}' is for the '{_options.DefaultNetworkProject}' project only (a shared bridge would let projects reach each other); " +
                $"create a network for project '{request.Project}' ('strata network create NAME --project {request.Project}') and pass --network NAME");
        }
        var record = _state.Networks.FirstOrDefault(n => n.Name == request.Network && Visible(n, request.Project));
        if (record is null && request.Network == _options.DefaultNetwork)
        {
            record = DefaultRecord();
            CheckDefaultSubnetFree(record);
            _state.Networks.Add(record);
            Save();
        }
        if (record is null)
        {
            throw NotFound(request.Network);
        }
        return record;
    }

    /// <summary>
    /// The default network's subnet must not be routed via a bridge of another node (or anything else) on this host:
    /// two bridges with one subnet break each other's routes. Checked when the default network is first used.
    /// </summary>
    private void CheckDefaultSubnetFree(NetworkRecord record)
    {
        var subnet = Ipv4Subnet.Parse(record.Subnet);
        var ours = _state.Networks.Select(n => n.Bridge).Append(record.Bridge).ToHashSet();
        if (Ipv4Subnet.HostRoutes().FirstOrDefault(r => !ours.Contains(r.Device) && r.Subnet.Overlaps(subnet)) is { Device: not null } route)
        {
            throw StrataException.Conflict(
                $"the default network '{record.Name}' would use {subnet}, which overlaps {route.Subnet} routed via {route.Device} on this host " +
                "(another node's default network, or another program's); give this node another name (--node) or remove what uses the subnet");
        }
    }

    private static StrataException NotFound(string name) =>
        StrataException.NotFound($"no network named '{name}'; 'strata network ls' lists them, 'strata network create {name}' makes one");

    private bool Visible(NetworkRecord n, string project) =>
        n.Project == project || (n.Project is null && project == _options.DefaultNetworkProject);

    /// <summary>Removes an unused network with its bridge, its isolation rules and its leases. The default network comes back on next use.</summary>
    public async Task RemoveAsync(string name, string project, CancellationToken ct)
    {
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var record = _state.Networks.FirstOrDefault(n => n.Name == name && Visible(n, project));
            if (record is null)
            {
                if (name == _options.DefaultNetwork && project == _options.DefaultNetworkProject)
                {
                    return; // not in use and nothing on the host yet
                }
                throw NotFound(name); // another project's networks, the default one included, are missing here
            }
            if (record.Members.Count > 0)
            {
                throw StrataException.Conflict($"network '{name}' is in use by {string.Join(", ", record.Members.Select(m => m.Name))}; remove those instances first");
            }
            await RemoveHostStateAsync(record, ct).ConfigureAwait(false);
            _state.Networks.Remove(record);
            Save();
        }
        finally
        {
            _lock.Release();
        }
    }

    private async Task RemoveHostStateAsync(NetworkRecord record, CancellationToken ct)
    {
        if (Directory.Exists(Path.Combine("/sys/class/net", record.Bridge)))
        {
            var r = await HostCommand.IpAsync(ct, "link", "del", record.Bridge).ConfigureAwait(false);
            if (r.ExitCode != 0)
            {
                throw new StrataException(ErrorKind.Internal, $"could not remove bridge {record.Bridge}: {r.Error}");
            }
        }
        // The firewall plugin adds two isolation rules per bridge and never removes them (other containers may
        // share the bridge); the network's owner does, once the bridge is gone.
        string[][] rules =
        [
            ["-D", "CNI-ISOLATION-STAGE-1", "-i", record.Bridge, "!", "-o", record.Bridge, "-m", "comment", "--comment", IsolationComment, "-j", "CNI-ISOLATION-STAGE-2"],
            ["-D", "CNI-ISOLATION-STAGE-2", "-o", record.Bridge, "-m", "comment", "--comment", IsolationComment, "-j", "DROP"],
        ];
        foreach (var rule in rules)
        {
            await HostCommand.RunAsync("iptables", ["-w", "-t", "filter", .. rule], ct: ct).ConfigureAwait(false);
        }
        await RemoveHostAccessRulesAsync(record).ConfigureAwait(false);
        var leases = Path.Combine(IpamDirectory, record.Key);
        if (Directory.Exists(leases))
        {
            Directory.Delete(leases, recursive: true);
        }
    }

    private NetworkInfo ToInfo(NetworkRecord n, string project)
    {
        var subnet = Ipv4Subnet.Parse(n.Subnet);
        return new NetworkInfo
        {
            Name = n.Name,
            Project = n.Project,
            Subnet = n.Subnet,
            Gateway = subnet.Gateway,
            Bridge = n.Bridge,
            Internal = n.Internal,
            HostAccess = !GuardsHost(n),
            Default = n.Default,
            CreatedAt = n.CreatedAt,
            Members = [.. n.Members.Where(m => m.Project == project).Select(m => new NetworkMemberInfo
            {
                Instance = m.Name, Project = m.Project, Address = m.Address, Ports = m.Ports, Aliases = m.Aliases, Interface = m.Interface,
            })],
        };
    }

    private static NetworkState Load(string path)
    {
        if (!File.Exists(path))
        {
            return new NetworkState();
        }
        var state = JsonSerializer.Deserialize(File.ReadAllText(path), NetworkJsonContext.Default.NetworkState) ?? new NetworkState();
        if (state.Version != NetworkState.CurrentVersion)
        {
            throw new StrataException(ErrorKind.Internal, $"{path} has version {state.Version}; this Strata reads version {NetworkState.CurrentVersion}");
        }
        return state;
    }

    private void Save()
    {
        AtomicFile.WriteAllText(_stateFile, JsonSerializer.Serialize(_state, NetworkJsonContext.Default.NetworkState));
    }

    public void Dispose() => _lock.Dispose();
}
