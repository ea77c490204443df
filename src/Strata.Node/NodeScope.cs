using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Strata.Contracts.Host;
using Strata.Node.Networking;

namespace Strata.Node;

/// <summary>
/// Every host-global name a daemon makes, derived from its node name (<c>stratad --node NAME</c>). Daemons with
/// different data roots, sockets and node names share one host without touching each other's cgroups, bridges, taps,
/// namespaces, iptables chains or sockets; each cleans up only what carries its own names. The node <c>local</c> (the
/// default) keeps the names Strata always used, so an existing install finds its resources where they are.
/// A new host-global name is added here, derived from <see cref="Name"/> or <see cref="Hash"/>, with a test in
/// NodeScopeTests that local keeps the old name, two nodes never share one and the kernel's limits hold.
/// </summary>
public sealed record NodeScope
{
    /// <summary>Network device names are at most 15 bytes (IFNAMSIZ - 1).</summary>
    public const int InterfaceNameLimit = 15;

    /// <summary>iptables chain names are at most 28 characters (XT_EXTENSION_MAXNAMELEN - 1 - 1).</summary>
    public const int ChainNameLimit = 28;

    public static NodeScope Local { get; } = new(NodeName.Default);

    public NodeScope(string name)
    {
        Name = NodeName.Validate("node", name);
        Hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(name)));
    }

    /// <summary>The node's name (1-32 of a-z, 0-9 and inner dashes).</summary>
    public string Name { get; }

    /// <summary>SHA-256 of the name in lower-case hex: short, stable parts of names with a size limit (interfaces).</summary>
    public string Hash { get; }

    public bool IsLocal => Name == NodeName.Default;

    // ---------------------------------------------------------------- cgroups

    /// <summary>
    /// The cgroup every instance's cgroups live under, in each hierarchy (<c>/sys/fs/cgroup/[controller/]PARENT/&lt;id&gt;</c>):
    /// <c>strata</c> on the node local, <c>strata-NODE</c> on others.
    /// </summary>
    public string CgroupParent => IsLocal ? "strata" : "strata-" + Name;

    // ---------------------------------------------------------------- networking

    /// <summary>
    /// Bridges are PREFIX0 (the default network), PREFIX1, ...: <c>strata</c> on local, <c>sb</c> + 6 hex digits of
    /// <see cref="Hash"/> on others (8 characters, so 7 digits of network number fit in 15 bytes).
    /// </summary>
    public string BridgePrefix => IsLocal ? "strata" : "sb" + Hash[..6];

    /// <summary>Named network namespaces under /run/netns are PREFIX&lt;instance id&gt;: <c>strata-</c>, or <c>strata-NODE-</c>.</summary>
    public string NamespacePrefix => IsLocal ? "strata-" : $"strata-{Name}-";

    /// <summary>
    /// Tap devices of sandbox and vm members are PREFIX + the start of the instance id, 15 bytes in all: <c>stap</c> on
    /// local, <c>st</c> + 5 hex digits of <see cref="Hash"/> on others (never <c>stap</c>: p is no hex digit), which
    /// leaves 8 hex digits of the instance id.
    /// </summary>
    public string TapPrefix => IsLocal ? "stap" : "st" + Hash[..5];

    /// <summary>
    /// Put before a network's CNI name (its lease directory, the CNI plugins' chain names and rule comments, which hash
    /// it with the instance id): empty on local, <c>NODE_</c> on others, so an instance id present on two nodes (an
    /// instance moving between nodes on one host) never meets the other's rules. Network and project names have no '_'.
    /// </summary>
    public string CniNamePrefix => IsLocal ? "" : Name + "_";

    /// <summary>
    /// The default network's subnet: 10.77.0.0/16 on local; on other nodes a /24 of 10.79.0.0/16 picked by the hash
    /// (two default networks on one subnet would break both bridges' routes). Two nodes whose picks meet are told so
    /// when the second one's default network is first used (its subnet is routed via the other's bridge).
    /// </summary>
    public string DefaultSubnet => IsLocal ? "10.77.0.0/16" : $"10.79.{HashByte(0).ToString(CultureInfo.InvariantCulture)}.0/24";

    /// <summary>
    /// Where a node's search for a free /24 of the subnet pool begins: 0 on local; elsewhere by the hash, so nodes that
    /// create networks at the same moment (before either bridge exists to show its route) rarely pick the same one.
    /// </summary>
    public int SubnetPoolStart => IsLocal ? 0 : HashByte(1);

    /// <summary>The chain that keeps a tenant network's members off the host's addresses: STRATA-HOST-&lt;bridge&gt; (bridges are node-scoped).</summary>
    public static string HostChain(string bridge) => "STRATA-HOST-" + bridge;

    /// <summary>The networks of this node, their state (networks.json, IPAM leases) in <paramref name="stateDirectory"/>.</summary>
    public NetworkOptions Networks(string stateDirectory) => new()
    {
        StateDirectory = stateDirectory,
        DefaultSubnet = DefaultSubnet,
        SubnetPoolStart = SubnetPoolStart,
        BridgePrefix = BridgePrefix,
        NamespacePrefix = NamespacePrefix,
        TapPrefix = TapPrefix,
        CniNamePrefix = CniNamePrefix,
    };

    // ---------------------------------------------------------------- sockets

    /// <summary>The Docker API socket when none is named: /run/strata/docker.sock on local, /run/strata/docker-NODE.sock on others.</summary>
    public string DockerSocket => IsLocal ? "/run/strata/docker.sock" : $"/run/strata/docker-{Name}.sock";

    private int HashByte(int index) => Convert.ToInt32(Hash.Substring(index * 2, 2), 16);
}
