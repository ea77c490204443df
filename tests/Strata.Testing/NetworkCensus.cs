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
    public static int FreePort()
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    /// <summary>Taps, leases and rules of the filter and nat tables, isolation rules left out.</summary>
    public static (int Taps, int Leases, int Filter, int Nat) OfMembers(NetworkOptions options) =>
        (Taps(options), Leases(options), Rules("filter", withIsolationRules: false), Rules("nat", withIsolationRules: false));
}
