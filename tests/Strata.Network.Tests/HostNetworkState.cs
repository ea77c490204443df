using System.Diagnostics;

namespace Strata.Network.Tests;

/// <summary>A census of what networking leaves on the host: veths, namespaces of this run, IPAM leases, iptables rules.</summary>
public sealed record HostNetworkState(int Veths, int Namespaces, int Leases, int FilterRules, int NatRules)
{
    public static HostNetworkState Capture(NetworkFixture fx)
    {
        var veths = Directory.GetFileSystemEntries("/sys/class/net", "veth*").Length;
        var namespaces = Directory.Exists("/run/netns") ? Directory.GetFiles("/run/netns", fx.NamespacePrefix + "*").Length : 0;
        var ipam = Path.Combine(fx.Options.StateDirectory, "ipam");
        // host-local keeps one file per leased address, plus its lock and last_reserved_ip files.
        var leases = Directory.Exists(ipam)
            ? Directory.GetFiles(ipam, "*", SearchOption.AllDirectories).Count(f => !Path.GetFileName(f).StartsWith("last_reserved_ip", StringComparison.Ordinal) && Path.GetFileName(f) != "lock")
            : 0;
        return new HostNetworkState(veths, namespaces, leases, Rules("filter"), Rules("nat"));
    }

    private static int Rules(string table)
    {
        var psi = new ProcessStartInfo("iptables", ["-w", "-t", table, "-S"]) { RedirectStandardOutput = true };
        using var p = Process.Start(psi)!;
        var lines = p.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        p.WaitForExit();
        return lines.Length;
    }
}
