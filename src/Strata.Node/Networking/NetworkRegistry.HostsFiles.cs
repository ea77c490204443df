using System.Text;

namespace Strata.Node.Networking;

/// <summary>The names members resolve: a hosts file bind-mounted into containers, a names disk for sandboxes and VMs.</summary>
public sealed partial class NetworkRegistry
{
    /// <summary>
    /// The hosts file of each member of <paramref name="record"/> (and of <paramref name="left"/>, an instance that
    /// just left it) lists the members of every network the instance is on, in its own project. Written in place
    /// (same inode) because it is bind-mounted into running containers. Caller holds the lock.
    /// </summary>
    private void WriteHostsFiles(NetworkRecord record, string? left = null)
    {
        var instances = record.Members.Select(m => m.InstanceId).Append(left).OfType<string>().Distinct(StringComparer.Ordinal).ToList();
        foreach (var instanceId in instances)
        {
            var memberships = _state.Networks.SelectMany(n => n.Members.Where(m => m.InstanceId == instanceId).Select(m => (Network: n, Member: m)))
                .OrderBy(x => x.Member.Interface is not null).ToList();
            if (memberships.Count == 0 || memberships[0].Member is not { HostsFile: { } hostsFile } own
                || !Directory.Exists(Path.GetDirectoryName(hostsFile)))
            {
                continue;
            }
            var text = new StringBuilder("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
            var lines = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (network, _) in memberships)
            {
                foreach (var m in network.Members.Where(m => m.Project == own.Project && m.Address.Length > 0))
                {
                    var line = new StringBuilder(m.Address).Append('\t').Append(m.Name);
                    foreach (var alias in m.Aliases)
                    {
                        line.Append(' ').Append(alias);
                    }
                    if (lines.Add(line.ToString()))
                    {
                        text.Append(line).Append('\n');
                    }
                }
            }
            if (own.Tap is not null)
            {
                // The guest's own address too: a guest moved live to a subnet that does not hold its old one learns the
                // new one here (its init reconfigures eth0 when this line changes; docs/move.md).
                if (own.Address.Length > 0)
                {
                    var subnet = Ipv4Subnet.Parse(memberships[0].Network.Subnet);
                    text.Insert(0, "# strata-net " + TapAttachment.GuestConfigurationOf(own.Address, subnet.Prefix,
                        memberships[0].Network.Internal ? null : subnet.Gateway) + "\n");
                }
                WriteNamesDisk(hostsFile, text.ToString());
                continue;
            }
            using var stream = new FileStream(hostsFile, FileMode.OpenOrCreate, FileAccess.Write, FileShare.ReadWrite);
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
}
