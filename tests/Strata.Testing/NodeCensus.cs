using System.Diagnostics;
using Strata.Node;

namespace Strata.Testing;

/// <summary>
/// What one node (a stratad with its own <c>--node</c> and <c>--root</c>) has on the host, by name: mounts under its
/// root and its namespaces, its bridges with their veths, its taps, its namespaces, its cgroups, the iptables rules that
/// name its bridges, CNI networks or subnets (filter and nat), and processes whose command line names its root.
/// Each set holds names, so two censuses can be compared item by item and other programs' changes on the host (tests
/// running beside this one) do not count.
/// </summary>
public sealed record NodeCensus(
    IReadOnlySet<string> Mounts,
    IReadOnlySet<string> Links,
    IReadOnlySet<string> Namespaces,
    IReadOnlySet<string> Cgroups,
    IReadOnlySet<string> Rules,
    IReadOnlySet<string> Processes)
{
    private const string CgroupRoot = "/sys/fs/cgroup";

    /// <summary>Nothing of the node is left on the host.</summary>
    public bool IsEmpty => Mounts.Count + Links.Count + Namespaces.Count + Cgroups.Count + Rules.Count + Processes.Count == 0;

    /// <summary>
    /// The census of <paramref name="scope"/>'s node with data root <paramref name="root"/>; <paramref name="subnets"/>
    /// are address prefixes of its networks as rules print them (e.g. <c>10.241.1.</c>).
    /// </summary>
    public static NodeCensus Capture(NodeScope scope, string root, IReadOnlyList<string> subnets)
    {
        var rootPrefix = Path.TrimEndingDirectorySeparator(root) + "/";
        var nsDir = "/run/netns/" + scope.NamespacePrefix;
        var mounts = File.ReadLines("/proc/self/mountinfo")
            .Select(l => l.Split(' ')[4])
            .Where(m => m.StartsWith(rootPrefix, StringComparison.Ordinal) || m.StartsWith(nsDir, StringComparison.Ordinal))
            .ToHashSet();

        var links = new HashSet<string>();
        foreach (var link in Directory.EnumerateFileSystemEntries("/sys/class/net").Select(Path.GetFileName).OfType<string>())
        {
            var master = new FileInfo(Path.Combine("/sys/class/net", link, "master")).LinkTarget is { } target ? Path.GetFileName(target) : null;
            if (link.StartsWith(scope.BridgePrefix, StringComparison.Ordinal) || link.StartsWith(scope.TapPrefix, StringComparison.Ordinal)
                || master?.StartsWith(scope.BridgePrefix, StringComparison.Ordinal) == true)
            {
                links.Add(link);
            }
        }

        var namespaces = Directory.Exists("/run/netns")
            ? Directory.EnumerateFiles("/run/netns", scope.NamespacePrefix + "*").Select(f => Path.GetFileName(f)).ToHashSet()
            : [];

        var cgroups = new HashSet<string>();
        var hierarchies = File.Exists(Path.Combine(CgroupRoot, "cgroup.controllers")) ? [CgroupRoot]
            : Directory.EnumerateDirectories(CgroupRoot).Where(h => new DirectoryInfo(h).LinkTarget is null);
        foreach (var parent in hierarchies.Select(h => Path.Combine(h, scope.CgroupParent)).Where(Directory.Exists))
        {
            cgroups.Add(parent);
            foreach (var dir in Directory.EnumerateDirectories(parent, "*", SearchOption.AllDirectories))
            {
                cgroups.Add(dir);
            }
        }

        List<string> marks = [scope.BridgePrefix, "\"" + scope.CniNamePrefix, .. subnets];
        var rules = new HashSet<string>();
        foreach (var table in new[] { "filter", "nat" })
        {
            foreach (var line in RuleLines(table).Where(l => marks.Any(m => l.Contains(m, StringComparison.Ordinal))))
            {
                rules.Add(table + ": " + line);
            }
        }

        var processes = new HashSet<string>();
        foreach (var proc in Directory.EnumerateDirectories("/proc").Where(d => int.TryParse(Path.GetFileName(d), out _)))
        {
            try
            {
                var cmdline = File.ReadAllText(Path.Combine(proc, "cmdline")).Replace('\0', ' ');
                if (cmdline.Contains(rootPrefix, StringComparison.Ordinal) && Path.GetFileName(proc) != Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture))
                {
                    processes.Add(Path.GetFileName(proc) + " " + cmdline.Trim());
                }
            }
            catch (IOException)
            {
                // ended meanwhile
            }
        }
        return new NodeCensus(mounts, links, namespaces, cgroups, rules, processes);
    }

    /// <summary>
    /// The chains of one member that the node's rules jump to or fill (the CNI plugins' CNI-&lt;hash&gt; and
    /// CNI-DN-&lt;hash&gt;, STRATA-HOST-&lt;bridge&gt;), not the chains every member shares.
    /// </summary>
    public IReadOnlySet<string> OwnChains()
    {
        string[] shared = ["CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-SETMARK", "CNI-HOSTPORT-MASQ", "CNI-FORWARD", "CNI-ADMIN", "CNI-ISOLATION-STAGE-1", "CNI-ISOLATION-STAGE-2"];
        var chains = new HashSet<string>();
        foreach (var words in Rules.Select(r => r.Split(' ')))
        {
            for (var i = 0; i + 1 < words.Length; i++)
            {
                if (words[i] is "-A" or "-j" && (words[i + 1].StartsWith("CNI-", StringComparison.Ordinal) || words[i + 1].StartsWith("STRATA-", StringComparison.Ordinal)) && !shared.Contains(words[i + 1]))
                {
                    chains.Add(words[i + 1]);
                }
            }
        }
        return chains;
    }

    /// <summary>Every chain of the filter and nat tables now.</summary>
    public static IReadOnlySet<string> ExistingChains() =>
        new[] { "filter", "nat" }.SelectMany(RuleLines).Where(l => l.StartsWith("-N ", StringComparison.Ordinal)).Select(l => l[3..].Trim()).ToHashSet();

    /// <summary>Each non-empty part, for an assertion message.</summary>
    public override string ToString()
    {
        static string Part(string name, IReadOnlySet<string> items) => items.Count == 0 ? "" : $"{name}: {string.Join(", ", items.Order())}\n";
        return Part("mounts", Mounts) + Part("links", Links) + Part("namespaces", Namespaces) + Part("cgroups", Cgroups)
            + Part("rules", Rules) + Part("processes", Processes);
    }

    private static string[] RuleLines(string table)
    {
        using var p = Process.Start(new ProcessStartInfo("iptables", ["-w", "-t", table, "-S"]) { RedirectStandardOutput = true })!;
        var lines = p.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        p.WaitForExit();
        return lines;
    }
}
