using System.Net;
using System.Net.Sockets;
using Strata.Contracts;

namespace Strata.Node.Networking;

/// <summary>
/// What keeps projects apart on one host beyond same-bridge isolation: names per project with host-unique CNI
/// names, subnets that do not tell one project about another's, and tenant networks kept off the host's own
/// addresses (docs/security.md, "Network rules for tenants").
/// </summary>
public sealed partial class NetworkRegistry
{
    /// <summary>
    /// Every subnet Strata networks use on this host, with who uses it as an error may say it: "network 'N'" for the
    /// project's own networks (and every network for a host administrator), "" for another project's.
    /// </summary>
    private List<(Ipv4Subnet Subnet, string Owner)> TakenSubnets(string project, bool hostAdmin)
    {
        string Owner(NetworkRecord n) =>
            Visible(n, project) ? $"network '{n.Name}'"
            : hostAdmin ? $"network '{n.Name}' of project '{n.Project ?? _options.DefaultNetworkProject}'"
            : "";
        var defaultOwner = project == _options.DefaultNetworkProject || hostAdmin ? $"the default network '{_options.DefaultNetwork}'" : "";
        return
        [
            .. _state.Networks.Where(n => !n.Default).Select(n => (Ipv4Subnet.Parse(n.Subnet), Owner(n))),
            (Ipv4Subnet.Parse(_options.DefaultSubnet), defaultOwner),
        ];
    }

    /// <summary>
    /// The CNI name of a new network: its own name in the default project (as before names were per project), else
    /// NAME.PROJECT (neither contains a dot, so it cannot meet another); a suffix if a record already holds it.
    /// </summary>
    private string UniqueCniName(string name, string project)
    {
        var candidate = _options.CniNamePrefix + (project == _options.DefaultNetworkProject ? name : $"{name}.{project}");
        var unique = candidate;
        for (var n = 2; _state.Networks.Any(r => r.Key == unique) || unique == _options.CniNamePrefix + _options.DefaultNetwork; n++)
        {
            unique = $"{candidate}.{n.ToString(System.Globalization.CultureInfo.InvariantCulture)}";
        }
        return unique;
    }

    /// <summary>Whether members are kept off the host's own addresses: networks of tenant projects, unless a host administrator allowed it.</summary>
    private bool GuardsHost(NetworkRecord n) =>
        !n.AllowHost && n.Project is not null && n.Project != _options.DefaultNetworkProject;

    private static string HostChain(NetworkRecord n) => NodeScope.HostChain(n.Bridge);

    private static string HostRuleComment(NetworkRecord n) => $"strata: network {n.Key} may not reach the host";

    private static bool HasIp6tables => File.Exists("/usr/sbin/ip6tables") || File.Exists("/sbin/ip6tables");

    /// <summary>
    /// For a guarded network (<see cref="GuardsHost"/>): traffic from its bridge to any of the host's own addresses
    /// (INPUT: every bridge's gateway, the host's other interfaces) is dropped, except replies to connections the
    /// host opened and DNS to the nameservers members are given when one of them is the host. IPv4 and IPv6 (the
    /// bridge's link-local address). One chain per bridge, jumped to first thing in INPUT; made again when missing
    /// (after a reboot). Caller holds the lock.
    /// </summary>
    private async Task EnsureHostAccessRulesAsync(NetworkRecord record, CancellationToken ct)
    {
        if (!GuardsHost(record))
        {
            return;
        }
        var chain = HostChain(record);
        string[] jump = ["INPUT", "-i", record.Bridge, "-m", "comment", "--comment", HostRuleComment(record), "-j", chain];
        var nameservers = record.Internal ? [] : ResolvConf.NameserversForBridge();
        foreach (var (tool, family) in Firewalls())
        {
            if ((await HostCommand.RunAsync(tool, ["-w", "-t", "filter", "-C", .. jump], ct: ct).ConfigureAwait(false)).ExitCode == 0)
            {
                continue;
            }
            await HostCommand.RunAsync(tool, ["-w", "-t", "filter", "-N", chain], ct: ct).ConfigureAwait(false); // exists already: fine
            List<string[]> rules =
            [
                ["-F", chain],
                ["-A", chain, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"],
            ];
            foreach (var ns in nameservers.Where(a => a.AddressFamily == family))
            {
                rules.Add(["-A", chain, "-d", ns.ToString(), "-p", "udp", "--dport", "53", "-j", "ACCEPT"]);
                rules.Add(["-A", chain, "-d", ns.ToString(), "-p", "tcp", "--dport", "53", "-j", "ACCEPT"]);
            }
            rules.Add(["-A", chain, "-j", "DROP"]);
            rules.Add(["-I", .. jump[..1], "1", .. jump[1..]]);
            foreach (var rule in rules)
            {
                var r = await HostCommand.RunAsync(tool, ["-w", "-t", "filter", .. rule], ct: ct).ConfigureAwait(false);
                if (r.ExitCode != 0)
                {
                    throw new StrataException(ErrorKind.Internal, $"could not keep network '{record.Name}' off the host's addresses ({tool} {string.Join(' ', rule)}): {r.Error}");
                }
            }
        }
    }

    /// <summary>Removes what <see cref="EnsureHostAccessRulesAsync(NetworkRecord, CancellationToken)"/> made (all of it, however often the jump was added).</summary>
    private static async Task RemoveHostAccessRulesAsync(NetworkRecord record)
    {
        var chain = HostChain(record);
        foreach (var (tool, _) in Firewalls())
        {
            for (var i = 0; i < 8; i++)
            {
                var r = await HostCommand.RunAsync(tool, ["-w", "-t", "filter", "-D", "INPUT", "-i", record.Bridge, "-m", "comment", "--comment", HostRuleComment(record), "-j", chain]).ConfigureAwait(false);
                if (r.ExitCode != 0)
                {
                    break;
                }
            }
            await HostCommand.RunAsync(tool, ["-w", "-t", "filter", "-F", chain]).ConfigureAwait(false);
            await HostCommand.RunAsync(tool, ["-w", "-t", "filter", "-X", chain]).ConfigureAwait(false);
        }
    }

    private static IEnumerable<(string Tool, AddressFamily Family)> Firewalls()
    {
        yield return ("iptables", AddressFamily.InterNetwork);
        if (HasIp6tables)
        {
            yield return ("ip6tables", AddressFamily.InterNetworkV6);
        }
    }

    /// <summary>
    /// Makes the host-access rules of every guarded network that has members (at daemon start: after a reboot or an
    /// upgrade from a version without them, running members are covered again before anything else happens).
    /// </summary>
    public async Task EnsureHostAccessRulesAsync(CancellationToken ct)
    {
        if (MissingReason() is not null)
        {
            return;
        }
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            foreach (var record in _state.Networks.Where(n => n.Members.Count > 0))
            {
                await EnsureHostAccessRulesAsync(record, ct).ConfigureAwait(false);
            }
        }
        finally
        {
            _lock.Release();
        }
    }
}
