using System.Diagnostics;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Images;
using Strata.Node.Drivers.Container;
using Strata.Node.Drivers.Vm;
using Strata.Node.Logs;
using Strata.Node.Networking;
using Strata.Testing;

namespace Strata.Vm.Tests;

/// <summary>
/// VMs (OCI-image boots) on bridge networks next to containers: a tap on the bridge, an address from the network's
/// IPAM, eth0 (virtio-net-pci) configured by the guest's init. Needs root, the CNI plugins, iptables and runc besides
/// the vm engine. Bridges, taps and subnets carry a per-run tag (10.237.x.x); traffic goes only to the test's own instances.
/// </summary>
public sealed class VmNetworkTests : IAsyncLifetime
{
    private static readonly TimeSpan BootBudget = TimeSpan.FromSeconds(240);
    private static readonly string s_tag = string.Concat(Enumerable.Range(0, 4).Select(_ => (char)('a' + Random.Shared.Next(26))));
    private readonly TempDirectory _temp = new("strata-vmnet");
    private NetworkRegistry _networks = null!;
    private VmDriver _vms = null!;
    private ContainerDriver _containers = null!;

    private NetworkOptions Options => new()
    {
        StateDirectory = _temp.Combine("networks"),
        DefaultNetwork = "vmtest0",
        DefaultSubnet = "10.237.0.0/24",
        SubnetPool = "10.237.0.0/16",
        BridgePrefix = "vmn" + s_tag,
        NamespacePrefix = $"vmn-{s_tag}-",
        TapPrefix = "vmt" + s_tag,
    };

    public async Task InitializeAsync()
    {
        _networks = new NetworkRegistry(Options);
        _vms = await VmFixture.CreateDriverAsync(o => o with { Networks = _networks });
        _containers = new ContainerDriver(
            new ContainerDriverOptions { Supervisor = VmFixture.Supervisor, RuntimeStateRoot = _temp.Combine("oci"), Networks = _networks },
            new Strata.Node.Images.ImageStoreResolver(await VmFixture.ImagesAsync()));
    }

    public async Task DisposeAsync()
    {
        foreach (var n in _networks.List("default"))
        {
            try
            {
                await _networks.RemoveAsync(n.Name, "default", CancellationToken.None);
            }
            catch (StrataException)
            {
            }
        }
        _vms.Dispose();
        _networks.Dispose();
        _temp.Dispose();
    }

    private void RequireNetworks()
    {
        VmFixture.RequireEngine();
        TestEnvironment.Require(Environment.UserName == "root", "vm networks need root");
        TestEnvironment.Require(_networks.MissingReason() is null, _networks.MissingReason() ?? "");
        TestEnvironment.Require(TestEnvironment.Which("runc") is not null || TestEnvironment.Which("crun") is not null, "no OCI runtime; apt-get install runc");
    }

    private CreateRequest Request(string tier, string name, InstanceSpec spec)
    {
        var id = Guid.NewGuid().ToString("N");
        var dir = _temp.Combine(id[..12]);
        Directory.CreateDirectory(dir);
        return new CreateRequest
        {
            InstanceId = id, Name = name, Project = "default", Directory = dir,
            Spec = spec with { Name = name, Tier = tier, Image = "busybox:latest" },
        };
    }

    private async Task<DriverHandle> StartAsync(IDriver driver, string tier, string name, InstanceSpec spec)
    {
        var handle = await driver.CreateAsync(Request(tier, name, spec), CancellationToken.None);
        return await driver.StartAsync(handle, CancellationToken.None);
    }

    private static async Task RemoveAsync(IDriver driver, DriverHandle handle)
    {
        await driver.StopAsync(handle, TimeSpan.Zero, CancellationToken.None);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await driver.WaitAsync(handle, cts.Token);
        await driver.DeleteAsync(handle, CancellationToken.None);
    }

    private static string Logs(DriverHandle handle) =>
        string.Join("\n", CriLogReader.ReadTail(LogFiles.LogDirectory(handle.Directory), null).Select(r => r.Text));

    private static async Task<(int Code, string Output)> WaitOutputAsync(IDriver driver, DriverHandle handle)
    {
        using var cts = new CancellationTokenSource(BootBudget);
        var exit = await driver.WaitAsync(handle, cts.Token);
        return (exit.ExitCode, Logs(handle) + (exit.Reason is null ? "" : "\n" + exit.Reason));
    }

    /// <summary>What the server behind 127.0.0.1:<paramref name="port"/> sends (the guest's nc loop needs no request); polls briefly.</summary>
    private static async Task<string> ReadPortAsync(int port)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        var last = "";
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var client = new System.Net.Sockets.TcpClient();
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await client.ConnectAsync(System.Net.IPAddress.Loopback, port, cts.Token);
                using var reader = new StreamReader(client.GetStream());
                client.Client.Shutdown(System.Net.Sockets.SocketShutdown.Send); // nc in the guest answers and ends at our end-of-file
                last = await reader.ReadToEndAsync(cts.Token);
                if (last.Length > 0)
                {
                    return last;
                }
            }
            catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException or OperationCanceledException)
            {
                last = e.Message;
            }
            await Task.Delay(200);
        }
        return last;
    }

    private static string ReadIfExists(string path) => File.Exists(path) ? File.ReadAllText(path) : "(none)";

    private int Taps() => NetworkCensus.Taps(Options);

    private int Leases() => NetworkCensus.Leases(Options);

    private (int Taps, int Leases, int Filter, int Nat) Census() => NetworkCensus.OfMembers(Options);

    [SkippableFact]
    public async Task VmAndContainer_SameNetwork_ReachEachOtherByName_PortPublished_AndDeleteLeavesNothing()
    {
        RequireNetworks();
        await _networks.CreateAsync(new CreateNetworkRequest { Name = "front" }, "default", CancellationToken.None);
        var web = await StartAsync(_containers, "container", "web", new InstanceSpec
        {
            Network = "front",
            Args = ["sh", "-c", "mkdir -p /tmp/www && echo hello-from-container > /tmp/www/index.html && exec httpd -f -p 80 -h /tmp/www"],
        });
        var before = Census();
        var port = NetworkCensus.FreePort();
        try
        {
            // The VM serves a page of its own (also on a published port), fetches the container's by name, then waits to be
            // fetched from.
            var guest = await StartAsync(_vms, "vm", "guest", new InstanceSpec
            {
                Network = "front",
                Ports = [PortSpec.Parse($"127.0.0.1:{port}:80")],
                Args = ["sh", "-c",
                    "(while :; do echo hello-from-vm | nc -l -p 80; done) & " +
                    "i=0; while [ $i -lt 100 ]; do printf 'GET / HTTP/1.0\\r\\n\\r\\n' | timeout 5 nc web 80 > /tmp/page 2>&1; grep -q hello-from-container /tmp/page && break; i=$((i+1)); sleep 0.2; done; " +
                    "cat /tmp/page; ip -4 addr show eth0; sleep 600"],
            });
            try
            {
                var guestAddress = guest.Data["address"];
                Assert.StartsWith("10.237.", guestAddress, StringComparison.Ordinal);
                Assert.Equal(before.Taps + 1, Taps());
                Assert.Equal(before.Leases + 1, Leases());
                Assert.Contains($"-A POSTROUTING -s {guestAddress}/32", NetworkCensus.RuleText("nat"), StringComparison.Ordinal);
                // The reverse: a container on the same network fetches the VM's page by name (polling while it boots).
                var client = await StartAsync(_containers, "container", "client", new InstanceSpec
                {
                    Network = "front",
                    Args = ["sh", "-c", "i=0; while [ $i -lt 900 ]; do timeout 3 nc guest 80 </dev/null > /tmp/o 2>/dev/null; grep -q hello-from-vm /tmp/o && { cat /tmp/o; exit 0; }; i=$((i+1)); sleep 0.2; done; echo unreachable; exit 1"],
                });
                var (clientCode, clientOutput) = await WaitOutputAsync(_containers, client);
                await _containers.DeleteAsync(client, CancellationToken.None);
                Assert.True(clientCode == 0, clientOutput + "\nguest: " + Logs(guest) + "\nserial: " + ReadIfExists(Path.Combine(guest.Directory, "serial.log")));
                Assert.Contains("hello-from-vm", clientOutput);
                // The host reaches it on the published port.
                Assert.Contains("hello-from-vm", await ReadPortAsync(port));

                // The VM got the container's page (it printed it before its own eth0 address).
                var deadline = DateTime.UtcNow + BootBudget;
                string guestOutput;
                while (!(guestOutput = Logs(guest)).Contains(guestAddress, StringComparison.Ordinal) && DateTime.UtcNow < deadline)
                {
                    await Task.Delay(200);
                }
                Assert.Contains("hello-from-container", guestOutput);
                Assert.Contains($"inet {guestAddress}/24", guestOutput);
            }
            finally
            {
                await RemoveAsync(_vms, guest);
            }
            // The VM is gone: no tap, no lease, no rule of its is left (NAT and DNAT included).
            Assert.Equal(before, Census());
            Assert.DoesNotContain($"{guest.Data["address"]}/32", NetworkCensus.RuleText("nat"), StringComparison.Ordinal);
            Assert.DoesNotContain($"{guest.Data["address"]}:80", NetworkCensus.RuleText("nat"), StringComparison.Ordinal);
            Assert.Null(_networks.TapAttachmentOf(guest.InstanceId));

            // A create that fails after the tap was attached (its config cannot be written) leaves nothing either.
            var failing = Request("vm", "failing", new InstanceSpec { Network = "front", Args = ["true"] });
            Directory.CreateDirectory(Path.Combine(failing.Directory, "vm.json"));
            await Assert.ThrowsAnyAsync<Exception>(() => _vms.CreateAsync(failing, CancellationToken.None));
            Assert.Equal(before, Census());
        }
        finally
        {
            await RemoveAsync(_containers, web);
            await _networks.RemoveAsync("front", "default", CancellationToken.None);
        }
    }

    [SkippableFact]
    public async Task TwoVms_FromOneTemplate_OnOneNetwork_HaveTheirOwnAddressMacAndName_AndReachEachOther()
    {
        RequireNetworks();
        await _networks.CreateAsync(new CreateNetworkRequest { Name = "tpl" }, "default", CancellationToken.None);
        const string show = "ip -4 addr show eth0; echo mac $(cat /sys/class/net/eth0/address) host $(hostname); ";
        var one = await StartAsync(_vms, "vm", "tplone", new InstanceSpec
        {
            Network = "tpl",
            Args = ["sh", "-c", "(while :; do echo hello-from-$(hostname) | nc -l -p 80; done) & " + show + "sleep 600"],
        });
        DriverHandle? two = null;
        try
        {
            two = await StartAsync(_vms, "vm", "tpltwo", new InstanceSpec
            {
                Network = "tpl",
                Args = ["sh", "-c", show + "i=0; while [ $i -lt 600 ]; do timeout 3 nc tplone 80 </dev/null > /tmp/o 2>/dev/null; grep -q hello-from-tplone /tmp/o && { cat /tmp/o; exit 0; }; i=$((i+1)); sleep 0.2; done; echo unreachable; exit 1"],
            });
            // The second VM restored the template the first one's start made (a networked shape has its own).
            Assert.StartsWith("template ", one.Data["template"], StringComparison.Ordinal);
            Assert.Equal("template " + one.Data["template"].Split(' ')[1], two.Data["template"]);
            var (code, output) = await WaitOutputAsync(_vms, two);
            Assert.True(code == 0, output + "\nfirst: " + Logs(one));
            Assert.Contains("hello-from-tplone", output, StringComparison.Ordinal);
            Assert.Contains($"inet {two.Data["address"]}/24", output, StringComparison.Ordinal);
            Assert.Contains("host tpltwo", output, StringComparison.Ordinal);
            var deadline = DateTime.UtcNow + BootBudget;
            while (!Logs(one).Contains("host tplone", StringComparison.Ordinal) && DateTime.UtcNow < deadline)
            {
                await Task.Delay(200);
            }
            Assert.Contains($"inet {one.Data["address"]}/24", Logs(one), StringComparison.Ordinal);
            Assert.NotEqual(one.Data["address"], two.Data["address"]);
            string Mac(string log) => log.Split('\n').First(l => l.StartsWith("mac ", StringComparison.Ordinal)).Split(' ')[1];
            Assert.NotEqual(Mac(Logs(one)), Mac(output));
        }
        finally
        {
            await RemoveAsync(_vms, one);
            if (two is not null)
            {
                await _vms.DeleteAsync(two, CancellationToken.None);
            }
        }
    }

    [SkippableFact]
    public async Task Create_DiskImageOnNetwork_IsRefusedWithoutTapOrLease()
    {
        VmFixture.RequireEngine();
        // A raw disk with only a boot signature: enough to import; it never boots because create refuses first.
        var raw = _temp.Combine("blank.raw");
        var bytes = new byte[2 * 1024 * 1024];
        bytes[510] = 0x55;
        bytes[511] = 0xAA;
        await File.WriteAllBytesAsync(raw, bytes);
        var name = "netdisk-" + Guid.NewGuid().ToString("N")[..6];
        await _vms.Disks!.ImportAsync(raw, name, TimeProvider.System, CancellationToken.None);
        try
        {
            var request = Request("vm", "fullos", new InstanceSpec { Network = "front" });
            request = request with { Spec = request.Spec with { Image = name } };
            var taps = Taps();
            var e = await Assert.ThrowsAsync<StrataException>(() => _vms.CreateAsync(request, CancellationToken.None));
            Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
            Assert.Contains("disk-image VMs do not join networks", e.Message, StringComparison.Ordinal);
            Assert.Equal(taps, Taps());
            Assert.Null(_networks.TapAttachmentOf(request.InstanceId));
            Assert.Empty(Directory.EnumerateFileSystemEntries(request.Directory));
        }
        finally
        {
            _vms.Disks.Remove(name);
        }
    }
}
