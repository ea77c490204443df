using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Strata.Contracts;
using Strata.Contracts.Drivers;

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
        for (var candidate = pool.Network; candidate + 255 <= pool.Last; candidate += 256)
        {
            var s = new Ipv4Subnet(candidate, 24);
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
            _state.Networks.Add(record);
            Save();
        }
        if (record is null)
        {
            throw NotFound(request.Network);
        }
        return record;
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

    // ---------------------------------------------------------------- members

    public NetworkAttachment? Attachment(string instanceId)
    {
        _lock.Wait();
        try
        {
            foreach (var n in _state.Networks)
            {
                if (n.Members.FirstOrDefault(m => m.InstanceId == instanceId) is { } m)
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
            record.Members.RemoveAll(m => m.InstanceId == request.InstanceId);
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
                record.Members.RemoveAll(m => m.InstanceId == request.InstanceId);
                Save();
                throw;
            }
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Leaves the network: CNI DEL (veth, lease, NAT and port rules), then the namespace. Idempotent. Returns what could not be cleaned.</summary>
    public async Task<IReadOnlyList<string>> DetachAsync(string instanceId, CancellationToken ct)
    {
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var errors = new List<string>();
            var nsName = _options.NamespacePrefix + instanceId;
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
                var vanished = !File.Exists(NamespacePath(nsName));
                var cleanup = await Chain(record, member.Ports).DeleteAsync(instanceId, NamespacePath(nsName), member.CniResult, CancellationToken.None).ConfigureAwait(false);
                if (member.CniResult is not null)
                {
                    errors.AddRange(cleanup); // without a cached result (a create cut short) some DELs fail by design
                }
                if (vanished && !record.Internal && member.Address.Length > 0)
                {
                    await TeardownMasqueradeAsync(record.Key, instanceId, member.Address).ConfigureAwait(false);
                }
                record.Members.Remove(member);
                Save();
                WriteHostsFiles(record);
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
    /// Joins the network again when the instance's namespace is gone although it is still a member (the host
    /// rebooted: /run/netns, veths and rules are gone, the lease file is not). Returns the current attachment.
    /// </summary>
    public async Task<NetworkAttachment?> EnsureAttachedAsync(string instanceId, CancellationToken ct)
    {
        NetworkAttachRequest? again = null;
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var record = _state.Networks.FirstOrDefault(n => n.Members.Any(m => m.InstanceId == instanceId));
            if (record is null)
            {
                return null;
            }
            var member = record.Members.First(m => m.InstanceId == instanceId);
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
        }
        finally
        {
            _lock.Release();
        }
        await DetachAsync(instanceId, ct).ConfigureAwait(false);
        return await AttachAsync(again, ct).ConfigureAwait(false);
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

    private CniChain Chain(NetworkRecord record, IReadOnlyList<PortSpec> ports)
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
                    ["routes"] = record.Internal ? new JsonArray() : new JsonArray(new JsonObject { ["dst"] = "0.0.0.0/0" }),
                },
            },
        };
        if (PortmapPlugin(ports) is { } portmap)
        {
            plugins.Add(portmap);
        }
        // iptables here is Debian's iptables-nft: the rules land in nftables tables, which is what the kernel runs.
        plugins.Add(new JsonObject { ["type"] = "firewall", ["backend"] = "iptables", ["ingressPolicy"] = "same-bridge" });
        return new CniChain(_options.PluginDirectory, record.Key, plugins);
    }

    /// <summary>
    /// Each member's hosts file lists the members of its network in its own project. Written in place (same
    /// inode) because it is bind-mounted into running containers.
    /// </summary>
    private static void WriteHostsFiles(NetworkRecord record)
    {
        foreach (var member in record.Members)
        {
            if (member.HostsFile is null || !Directory.Exists(Path.GetDirectoryName(member.HostsFile)))
            {
                continue;
            }
            var text = new StringBuilder("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
            foreach (var m in record.Members.Where(m => m.Project == member.Project && m.Address.Length > 0))
            {
                text.Append(m.Address).Append('\t').Append(m.Name);
                foreach (var alias in m.Aliases)
                {
                    text.Append(' ').Append(alias);
                }
                text.Append('\n');
            }
            if (member.Tap is not null)
            {
                WriteNamesDisk(member.HostsFile, text.ToString());
                continue;
            }
            using var stream = new FileStream(member.HostsFile, FileMode.OpenOrCreate, FileAccess.Write, FileShare.ReadWrite);
            stream.SetLength(0);
            stream.Write(Encoding.UTF8.GetBytes(text.ToString()));
        }
    }

    /// <summary>The size of a sandbox's or VM's names disk: room for about 2,000 members (QEMU fixes the size at start).</summary>
    public const int NamesDiskSize = 64 * 1024;

    /// <summary>
    /// A guest's hosts file, as a raw disk QEMU attaches read-only and the guest's init re-reads every second
    /// (docs/network.md): the line <c># strata-hosts MD5</c> (of everything after it), the hosts text, zeros up to
    /// <see cref="NamesDiskSize"/>. Rewritten in place in one write, because QEMU keeps the file open; the checksum
    /// lets the guest skip a copy it read in the middle of a rewrite.
    /// </summary>
    internal static void WriteNamesDisk(string path, string hosts)
    {
        var body = Encoding.UTF8.GetBytes(hosts);
        var header = Encoding.ASCII.GetBytes("# strata-hosts " + Convert.ToHexStringLower(System.Security.Cryptography.MD5.HashData(body)) + "\n");
        if (header.Length + body.Length > NamesDiskSize)
        {
            // Keep whole lines that fit: the guest then resolves the first members rather than none.
            var cut = Array.LastIndexOf(body, (byte)'\n', NamesDiskSize - header.Length - 1);
            WriteNamesDisk(path, Encoding.UTF8.GetString(body, 0, cut + 1));
            return;
        }
        var disk = new byte[NamesDiskSize];
        header.CopyTo(disk, 0);
        body.CopyTo(disk, header.Length);
        using var stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.Write, FileShare.ReadWrite);
        stream.Write(disk);
    }

    /// <summary>Writes an instance's hosts file before it has an address (the runtime needs the file to bind-mount).</summary>
    public static void PrepareHostsFile(string path, string name) =>
        File.WriteAllText(path, $"127.0.0.1\tlocalhost {name}\n::1\tlocalhost ip6-localhost ip6-loopback\n");

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
                Instance = m.Name, Project = m.Project, Address = m.Address, Ports = m.Ports,
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
        var temp = _stateFile + ".tmp";
        File.WriteAllText(temp, JsonSerializer.Serialize(_state, NetworkJsonContext.Default.NetworkState));
        File.Move(temp, _stateFile, overwrite: true);
    }

    public void Dispose() => _lock.Dispose();
}
