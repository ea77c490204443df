using System.Diagnostics;
using Strata.Node.Networking;

namespace Strata.Testing;

/// <summary>
/// Counts what bridge networking leaves on the host, for before/after leak checks: tap devices, IPAM
/// leases and iptables rules.
/// </summary>
public static class NetworkCensus
{
    public static int Taps(NetworkOptions options) =>
        Directory.GetFileSystemEntries("/sys/class/net", options.TapPrefix + "*").Length;

    /// <summary>host-local keeps one file per leased address, plus its lock and last_reserved_ip files.</summary>
    public static int Leases(NetworkOptions options)
    {
        var ipam = Path.Combine(options.StateDirectory, "ipam");
        return Directory.Exists(ipam)
            ? Directory.GetFiles(ipam, "*", SearchOption.AllDirectories).Count(f => !Path.GetFileName(f).StartsWith("last_reserved_ip", StringComparison.Ordinal) && Path.GetFileName(f) != "lock")
            : 0;
    }

    /// <summary>
    /// Rules of an iptables table; <paramref name="withIsolationRules"/> false leaves out the per-bridge
    /// isolation rules (they belong to a network and go with network rm, not with a member).
    /// </summary>
    public static int Rules(string table, bool withIsolationRules = true)
    {
        using var p = Process.Start(new ProcessStartInfo("iptables", ["-w", "-t", table, "-S"]) { RedirectStandardOutput = true })!;
        var lines = p.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        p.WaitForExit();
        return withIsolationRules ? lines.Length : lines.Count(l => !l.Contains("ingressPolicy: same-bridge", StringComparison.Ordinal));
    }

    /// <summary>The rules of an iptables table as <c>iptables -S</c> (or <paramref name="tool"/>, e.g. ip6tables) prints them (e.g. to look for a member's NAT or DNAT rules).</summary>
    public static string RuleText(string table, string tool = "iptables")
    {
        using var p = Process.Start(new ProcessStartInfo(tool, ["-w", "-t", table, "-S"]) { RedirectStandardOutput = true })!;
        var text = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return text;
    }

    /// <summary>A free TCP port on 127.0.0.1 (bound and released at once), for a test's published port.</summary>
    public static int FreePort() => TestEnvironment.FreeLoopbackPort();

    /// <summary>
    /// Taps, leases and the rules of the filter and nat tables that belong to these options' networks (isolation
    /// rules left out): a rule counts when it names an address of the subnet pool, a bridge or a tap of these options.
    /// Other tests run at the same time (other classes of the assembly, a daemon's default network) add and remove
    /// rules of their own; a host-wide count saw them as this test's leak.
    /// </summary>
    public static (int Taps, int Leases, int Filter, int Nat) OfMembers(NetworkOptions options) =>
        (Taps(options), Leases(options), Rules("filter", options), Rules("nat", options));

    private static int Rules(string table, NetworkOptions options)
    {
        var marks = new List<string> { options.BridgePrefix, options.TapPrefix };
        if (PoolPrefix(options.SubnetPool) is { } pool)
        {
            marks.Add(pool);
        }
        else
        {
            return Rules(table, withIsolationRules: false);
        }
        return RuleText(table).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Count(l => !l.Contains("ingressPolicy: same-bridge", StringComparison.Ordinal) && marks.Any(m => l.Contains(m, StringComparison.Ordinal)));
    }

    /// <summary>"10.237." for 10.237.0.0/16 (a pool on an octet boundary), else null.</summary>
    private static string? PoolPrefix(string pool)
    {
        var parts = pool.Split('/');
        if (parts.Length != 2 || !int.TryParse(parts[1], System.Globalization.CultureInfo.InvariantCulture, out var bits) || bits % 8 != 0 || bits is < 8 or > 24)
        {
            return null;
        }
        var octets = parts[0].Split('.');
        return octets.Length == 4 ? string.Join('.', octets.Take(bits / 8)) + "." : null;
    }
}
