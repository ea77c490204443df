namespace Strata.Node.Networking;

/// <summary>
/// Where networks keep their state and which host names and addresses they may use. The daemon takes the names from
/// its <see cref="NodeScope"/> (<see cref="NodeScope.Networks"/>); the defaults here are the node local's.
/// </summary>
public sealed record NetworkOptions
{
    /// <summary>Holds <c>networks.json</c> and the IPAM leases (<c>ipam/&lt;network&gt;/</c>); under the data root.</summary>
    public required string StateDirectory { get; init; }

    /// <summary>The default bridge network; created on first use. Only <see cref="DefaultNetworkProject"/> joins it.</summary>
    public string DefaultNetwork { get; init; } = "strata0";

    /// <summary>
    /// The one project whose instances may join <see cref="DefaultNetwork"/>. One bridge shared by several
    /// projects would let their instances reach each other, so every other project uses networks of its own.
    /// </summary>
    public string DefaultNetworkProject { get; init; } = "default";

    /// <summary>
    /// The default network's subnet. 10.77.0.0/16 stays clear of podman (10.88/16), docker (172.17/16),
    /// libvirt (192.168.122/24) and the usual home and cloud ranges.
    /// </summary>
    public string DefaultSubnet { get; init; } = NodeScope.Local.DefaultSubnet;

    /// <summary>Networks created without <c>--subnet</c> get the first free /24 of this range.</summary>
    public string SubnetPool { get; init; } = "10.78.0.0/16";

    /// <summary>The /24 of <see cref="SubnetPool"/> the search for a free one begins at (wrapping around); see <see cref="NodeScope.SubnetPoolStart"/>.</summary>
    public int SubnetPoolStart { get; init; }

    /// <summary>Bridge devices are named PREFIX0 (the default network), PREFIX1, ...</summary>
    public string BridgePrefix { get; init; } = NodeScope.Local.BridgePrefix;

    /// <summary>Named network namespaces are PREFIX&lt;instance id&gt; under /run/netns.</summary>
    public string NamespacePrefix { get; init; } = NodeScope.Local.NamespacePrefix;

    /// <summary>Tap devices of VM members (sandbox tier) are PREFIX + the start of the instance id (15 bytes at most).</summary>
    public string TapPrefix { get; init; } = NodeScope.Local.TapPrefix;

    /// <summary>Put before every network's CNI name (see <see cref="NodeScope.CniNamePrefix"/>); empty on the node local.</summary>
    public string CniNamePrefix { get; init; } = "";

    /// <summary>Debian's containernetworking-plugins install here.</summary>
    public string PluginDirectory { get; init; } = "/usr/lib/cni";
}
