using System.Security.Cryptography;
using System.Text;
using Strata.Contracts;
using Strata.Node.Networking;
using Strata.Qemu;
using Strata.Qemu.Guest;
using Strata.Testing;

namespace Strata.Sandbox.Tests;

/// <summary>Engine-free rules of the names disk a sandbox or VM on a network reads its /etc/hosts from (docs/network.md).</summary>
public sealed class NamesDiskTests : IDisposable
{
    private readonly TempDirectory _temp = new("strata-names");

    public void Dispose() => _temp.Dispose();

    private static (string Header, string Body, byte[] Raw) Read(string path)
    {
        var raw = File.ReadAllBytes(path);
        var text = Encoding.UTF8.GetString(raw).TrimEnd('\0');
        var newline = text.IndexOf('\n', StringComparison.Ordinal);
        return (text[..newline], text[(newline + 1)..], raw);
    }

    [Fact]
    public void WriteNamesDisk_HeaderChecksumsTheBody_ZeroPadded_RewrittenInPlace()
    {
        var path = _temp.Combine("names.img");
        NetworkRegistry.WriteNamesDisk(path, "127.0.0.1\tlocalhost\n10.1.0.2\tweb\n10.1.0.3\tguest\n");
        var length = new FileInfo(path).Length;
        var (header, body, raw) = Read(path);
        Assert.Equal(NetworkRegistry.NamesDiskSize, raw.Length);
        Assert.Equal("# strata-hosts " + Convert.ToHexStringLower(MD5.HashData(Encoding.UTF8.GetBytes(body))), header);
        Assert.Contains("10.1.0.2\tweb\n", body, StringComparison.Ordinal);

        // A shorter list later: the same file (QEMU keeps it open), the old tail overwritten by zeros.
        using (var held = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite))
        {
            NetworkRegistry.WriteNamesDisk(path, "127.0.0.1\tlocalhost\n");
            var again = new byte[NetworkRegistry.NamesDiskSize];
            held.ReadExactly(again);
            var text = Encoding.UTF8.GetString(again).TrimEnd('\0');
            Assert.EndsWith("\n127.0.0.1\tlocalhost\n", text, StringComparison.Ordinal);
            Assert.DoesNotContain("web", text, StringComparison.Ordinal);
        }
        Assert.Equal(length, new FileInfo(path).Length);
    }

    [Fact]
    public void WriteNamesDisk_TooManyMembers_KeepsWholeLinesThatFit()
    {
        var path = _temp.Combine("big.img");
        var hosts = new StringBuilder();
        for (var i = 0; i < 5000; i++)
        {
            hosts.Append("10.1.").Append(i / 250).Append('.').Append(i % 250).Append("\tmember-").Append(i).Append('\n');
        }
        NetworkRegistry.WriteNamesDisk(path, hosts.ToString());
        var (header, body, raw) = Read(path);
        Assert.Equal(NetworkRegistry.NamesDiskSize, raw.Length);
        Assert.EndsWith("\n", body, StringComparison.Ordinal);
        Assert.StartsWith(body, hosts.ToString(), StringComparison.Ordinal);
        Assert.Equal("# strata-hosts " + Convert.ToHexStringLower(MD5.HashData(Encoding.UTF8.GetBytes(body))), header);
    }

    [Fact]
    public void Plan_NetworkWithNamesDisk_RootStaysFirstDrive_NamesReadOnlyWithSerial_AndAnnounced()
    {
        var plan = QemuVm.Plan(new GuestVmOptions
        {
            Directory = _temp.Path,
            KernelPath = "/k",
            InitrdPath = "/i",
            Workload = new GuestWorkload(["true"], new Dictionary<string, string>(), "/"),
            RootDisk = new QemuDrive(_temp.Combine("rootfs.qcow2"), "qcow2"),
            GuestTscKHz = 1,
            Network = new GuestNetwork("stap0", "52:54:0a:01:00:02", "10.1.0.2", 24, "10.1.0.1", _temp.Combine("names.img")),
        });
        var argv = plan.Argv.ToList();
        var drives = argv.Select((a, i) => (a, i)).Where(x => x.a == "-drive").Select(x => argv[x.i + 1]).ToList();
        Assert.Equal(2, drives.Count);
        Assert.Contains("rootfs.qcow2", drives[0], StringComparison.Ordinal);
        Assert.Contains("names.img", drives[1], StringComparison.Ordinal);
        Assert.Contains("readonly=on", drives[1], StringComparison.Ordinal);
        Assert.Contains(argv, a => a.Contains("drive=names", StringComparison.Ordinal) && a.Contains("serial=" + GuestInit.NamesDiskSerial, StringComparison.Ordinal));
        Assert.Contains(argv, a => a.Contains("strata.hosts=" + GuestInit.NamesDiskSerial, StringComparison.Ordinal));

        var without = QemuVm.Plan(new GuestVmOptions
        {
            Directory = _temp.Path,
            KernelPath = "/k",
            InitrdPath = "/i",
            Workload = new GuestWorkload(["true"], new Dictionary<string, string>(), "/"),
            GuestTscKHz = 1,
            Network = new GuestNetwork("stap0", "52:54:0a:01:00:02", "10.1.0.2", 24, null),
        });
        Assert.DoesNotContain(without.Argv, a => a.Contains("strata.hosts", StringComparison.Ordinal) || a.Contains("drive=names", StringComparison.Ordinal));
    }

    [Fact]
    public void TapNetworkName_PortsWithoutNetwork_JoinTheDefault_PortsWithNone_AreRefused()
    {
        var ports = new[] { PortSpec.Parse("127.0.0.1:8080:80") };
        Assert.Equal("strata0", NetworkRegistry.TapNetworkName(new InstanceSpec { Ports = ports }, null));
        Assert.Null(NetworkRegistry.TapNetworkName(new InstanceSpec(), null));
        Assert.Null(NetworkRegistry.TapNetworkName(new InstanceSpec { Network = "none" }, null));
        Assert.Equal("front", NetworkRegistry.TapNetworkName(new InstanceSpec { Network = "front", Ports = ports }, null));
        var e = Assert.Throws<StrataException>(() => NetworkRegistry.TapNetworkName(new InstanceSpec { Network = "none", Ports = ports }, null));
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
    }
}
