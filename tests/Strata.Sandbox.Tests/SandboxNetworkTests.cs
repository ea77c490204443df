using System.Diagnostics;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Images;
using Strata.Node.Drivers.Container;
using Strata.Node.Drivers.Sandbox;
using Strata.Node.Logs;
using Strata.Node.Networking;
using Strata.Qemu;
using Strata.Testing;

namespace Strata.Sandbox.Tests;

/// <summary>
/// Sandboxes on bridge networks next to containers: a tap on the bridge, an address from the network's IPAM,
/// eth0 configured by the guest's init. Needs root, the CNI plugins, iptables and runc besides the sandbox engine.
/// Bridges, taps and subnets carry a per-run tag (10.236.x.x); traffic goes only to the test's own instances.
/// </summary>
public sealed partial class SandboxNetworkTests : IAsyncLifetime
{
    private static readonly TimeSpan BootBudget = TimeSpan.FromSeconds(180);
    private static readonly string s_tag = string.Concat(Enumerable.Range(0, 4).Select(_ => (char)('a' + Random.Shared.Next(26))));
    private readonly TempDirectory _temp = new("strata-sbnet");
    private NetworkRegistry _networks = null!;
    private SandboxDriver _sandboxes = null!;
    private ContainerDriver _containers = null!;

    private NetworkOptions Options => new()
    {
        StateDirectory = _temp.Combine("networks"),
        DefaultNetwork = "sbtest0",
        DefaultSubnet = "10.236.0.0/24",
        SubnetPool = "10.236.0.0/16",
        BridgePrefix = "sbn" + s_tag,
        NamespacePrefix = $"sbn-{s_tag}-",
        TapPrefix = "sbt" + s_tag,
    };

    public Task InitializeAsync()
    {
        _networks = new NetworkRegistry(Options);
        _sandboxes = new SandboxDriver(new SandboxDriverOptions
        {
            CacheDirectory = SandboxTestHost.CacheDirectory,
            Supervisor = SandboxTestHost.Supervisor ?? "/nonexistent/strata-supervisor",
            LogMaxBytes = 1024 * 1024,
            Accelerator = Environment.GetEnvironmentVariable("STRATA_SANDBOX_ACCEL") ?? Accelerators.Tcg,
            Networks = _networks,
        }, new Strata.Node.Images.ImageStoreResolver(new ImageStore(SandboxTestHost.ImagesRoot)));
        _containers = new ContainerDriver(
            new ContainerDriverOptions { Supervisor = SandboxTestHost.Supervisor, RuntimeStateRoot = _temp.Combine("oci"), Networks = _networks },
            new Strata.Node.Images.ImageStoreResolver(new ImageStore(SandboxTestHost.ImagesRoot)));
        return Task.CompletedTask;
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
        _sandboxes.Dispose();
        _networks.Dispose();
        _temp.Dispose();
    }

    private void RequireNetworks()
    {
        SandboxTestHost.RequireEngine();
        TestEnvironment.Require(Environment.UserName == "root", "sandbox networks need root");
        TestEnvironment.Require(_networks.MissingReason() is null, _networks.MissingReason() ?? "");
        TestEnvironment.Require(TestEnvironment.Which("runc") is not null || TestEnvironment.Which("crun") is not null, "no OCI runtime; apt-get install runc");
    }

    private async Task<DriverHandle> StartAsync(IDriver driver, string tier, string name, InstanceSpec spec)
    {
        var id = Guid.NewGuid().ToString("N");
        var dir = _temp.Combine(id[..12]);
        Directory.CreateDirectory(dir);
        var handle = await driver.CreateAsync(new CreateRequest
        {
            InstanceId = id, Name = name, Project = "default", Directory = dir,
            Spec = spec with { Name = name, Tier = tier, Image = "busybox" },
        }, CancellationToken.None);
        return await driver.StartAsync(handle, CancellationToken.None);
    }

    private static async Task RemoveAsync(IDriver driver, DriverHandle handle)
    {
        await driver.StopAsync(handle, TimeSpan.Zero, CancellationToken.None);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await driver.WaitAsync(handle, cts.Token);
        await driver.DeleteAsync(handle, CancellationToken.None);
    }

    private static async Task<(int Code, string Output)> WaitOutputAsync(IDriver driver, DriverHandle handle)
    {
        using var cts = new CancellationTokenSource(BootBudget);
        var exit = await driver.WaitAsync(handle, cts.Token);
        var output = string.Join("\n", CriLogReader.ReadTail(LogFiles.LogDirectory(handle.Directory), null).Select(r => r.Text));
        return (exit.ExitCode, output + (exit.Reason is null ? "" : "\n" + exit.Reason));
    }

    private static string Host(string file, params string[] args)
    {
        using var p = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var text = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        return text;
    }

    private static string ReadIfExists(string path) => File.Exists(path) ? File.ReadAllText(path) : "(none)";

    private int Taps() => NetworkCensus.Taps(Options);

    private int Leases() => NetworkCensus.Leases(Options);

    private (int Taps, int Leases, int Filter, int Nat) Census() => NetworkCensus.OfMembers(Options);

    [SkippableFact]
    public async Task SandboxAndContainer_SameNetwork_ReachEachOther_OtherNetworkCannot()
    {
        RequireNetworks();
        await _networks.CreateAsync(new CreateNetworkRequest { Name = "front" }, "default", CancellationToken.None);
        await _networks.CreateAsync(new CreateNetworkRequest { Name = "back" }, "default", CancellationToken.None);
        var web = await StartAsync(_containers, "container", "web", new InstanceSpec
        {
            Network = "front",
            Args = ["sh", "-c", "mkdir -p /tmp/www && echo hello-from-container > /tmp/www/index.html && exec httpd -f -p 80 -h /tmp/www"],
        });
        var before = Census();
        try
        {
            var webAddress = web.Data["address"];
            // The sandbox serves a page of its own, then fetches the container's, then waits to be fetched from.
            var guest = await StartAsync(_sandboxes, "sandbox", "guest", new InstanceSpec
            {
                Network = "front",
                Args = ["sh", "-c",
                    "(while :; do echo hello-from-sandbox | nc -l -p 80; done) & " +
                    $"i=0; while [ $i -lt 100 ]; do printf 'GET / HTTP/1.0\\r\\n\\r\\n' | timeout 5 nc {webAddress} 80 > /tmp/page 2>&1; grep -q hello-from-container /tmp/page && break; i=$((i+1)); sleep 0.2; done; " +
                    "cat /tmp/page; ip -4 addr show eth0; sleep 600"],
            });
            try
            {
                var guestAddress = guest.Data["address"];
                Assert.StartsWith("10.236.", guestAddress, StringComparison.Ordinal);
                Assert.Equal(before.Taps + 1, Taps());
                // The reverse: a container on the same network fetches the sandbox's page (polling while it boots).
                var client = await StartAsync(_containers, "client", "client", new InstanceSpec
                {
                    Network = "front",
                    Args = ["sh", "-c", $"i=0; while [ $i -lt 600 ]; do timeout 3 nc {guestAddress} 80 </dev/null > /tmp/o 2>/dev/null; grep -q hello-from-sandbox /tmp/o && {{ cat /tmp/o; exit 0; }}; i=$((i+1)); sleep 0.2; done; echo unreachable; exit 1"],
                });
                var (clientCode, clientOutput) = await WaitOutputAsync(_containers, client);
                await _containers.DeleteAsync(client, CancellationToken.None);
                Assert.True(clientCode == 0, clientOutput + "\nguest stdout: " + SandboxTestHost.Stream(guest, "stdout") + "\nguest stderr: " + SandboxTestHost.Stream(guest, "stderr")
                    + "\nserial: " + ReadIfExists(Path.Combine(guest.Directory, "serial.log")) + "\nqemu: " + ReadIfExists(Path.Combine(guest.Directory, "qemu.log")) + "\nhost: " + Host("ip", "-d", "link", "show", "master", Options.BridgePrefix + "1"));
                Assert.Contains("hello-from-sandbox", clientOutput);

                // The sandbox got the container's page (it printed it before its own eth0 address).
                var deadline = DateTime.UtcNow + BootBudget;
                string guestOutput;
                while (!(guestOutput = SandboxTestHost.Stream(guest, "stdout")).Contains(guestAddress, StringComparison.Ordinal) && DateTime.UtcNow < deadline)
                {
                    await Task.Delay(200);
                }
                Assert.Contains("hello-from-container", guestOutput);
                Assert.Contains($"inet {guestAddress}/24", guestOutput);
            }
            finally
            {
                await RemoveAsync(_sandboxes, guest);
            }

            // A sandbox on another network reaches neither the container's address nor anything on its bridge.
            var outsider = await StartAsync(_sandboxes, "sandbox", "outsider", new InstanceSpec
            {
                Network = "back",
                Args = ["sh", "-c", $"ip -4 addr show eth0 | grep -q inet || echo no-eth0; printf 'GET / HTTP/1.0\\r\\n\\r\\n' | timeout 5 nc {webAddress} 80 | grep -q hello-from-container && echo connected || echo blocked"],
            });
            try
            {
                var (code, output) = await WaitOutputAsync(_sandboxes, outsider);
                Assert.Equal(0, code);
                Assert.Contains("blocked", output);
                Assert.DoesNotContain("connected", output);
                Assert.DoesNotContain("no-eth0", output);
            }
            finally
            {
                await _sandboxes.DeleteAsync(outsider, CancellationToken.None);
            }
            // Both sandboxes are gone: no tap, no lease, no rule of theirs is left.
            Assert.Equal(before, Census());
        }
        finally
        {
            await RemoveAsync(_containers, web);
            await _networks.RemoveAsync("front", "default", CancellationToken.None);
            await _networks.RemoveAsync("back", "default", CancellationToken.None);
        }
    }

    [SkippableFact]
    public async Task TwoSandboxesFromOneTemplate_OnOneNetwork_HaveTheirOwnAddressAndMac_AndReachEachOther()
    {
        RequireNetworks();
        await _networks.CreateAsync(new CreateNetworkRequest { Name = "pair" }, "default", CancellationToken.None);
        const string Me = "echo \"$(hostname) $(cat /sys/class/net/eth0/address) $(ip -4 addr show eth0 | sed -n 's/.*inet \\([0-9.]*\\).*/\\1/p')\"";
        var server = await StartAsync(_sandboxes, "sandbox", "one", new InstanceSpec
        {
            Network = "pair",
            Args = ["sh", "-c", $"{Me}; while :; do {Me} | nc -l -p 80; done"],
        });
        try
        {
            var serverAddress = server.Data["address"];
            var client = await StartAsync(_sandboxes, "sandbox", "two", new InstanceSpec
            {
                Network = "pair",
                Args = ["sh", "-c", $"{Me}; i=0; while [ $i -lt 300 ]; do timeout 3 nc {serverAddress} 80 </dev/null > /tmp/o 2>/dev/null; [ -s /tmp/o ] && {{ cat /tmp/o; exit 0; }}; i=$((i+1)); sleep 0.2; done; echo unreachable; exit 1"],
            });
            var (code, output) = await WaitOutputAsync(_sandboxes, client);
            await _sandboxes.DeleteAsync(client, CancellationToken.None);
            Assert.True(code == 0, output + "\nserver: " + SandboxTestHost.Stream(server, "stdout"));
            // Both started from the one template of this shape (a networked busybox sandbox).
            Assert.StartsWith("template ", server.Data[SandboxDriver.TemplateDataKey], StringComparison.Ordinal);
            Assert.Equal(server.Data[SandboxDriver.TemplateDataKey].Split(' ')[1], client.Data[SandboxDriver.TemplateDataKey].Split(' ')[1]);
            // Each clone has its own leased address, the MAC made from it, and its own name; the client reached the server.
            var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            var (clientSelf, fromServer) = (lines[0].Split(' '), lines[1].Split(' '));
            Assert.Equal(["two", MacOf(client.Data["address"]), client.Data["address"]], clientSelf);
            Assert.Equal(["one", MacOf(serverAddress), serverAddress], fromServer);
            Assert.NotEqual(serverAddress, client.Data["address"]);
        }
        finally
        {
            await RemoveAsync(_sandboxes, server);
            await _networks.RemoveAsync("pair", "default", CancellationToken.None);
        }
    }

    private static string MacOf(string address) =>
        "52:54:" + string.Join(':', System.Net.IPAddress.Parse(address).GetAddressBytes().Select(b => b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture)));

    /// <summary>Reads what a server on 127.0.0.1:<paramref name="port"/> answers to a GET, or null while nothing answers.</summary>
    private static async Task<string?> GetAsync(int port, System.Net.IPAddress? address = null)
    {
        try
        {
            using var client = new System.Net.Sockets.TcpClient();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await client.ConnectAsync(address ?? System.Net.IPAddress.Loopback, port, cts.Token);
            var stream = client.GetStream();
            await stream.WriteAsync("GET / HTTP/1.0\r\n\r\n"u8.ToArray(), cts.Token);
            using var reader = new StreamReader(stream);
            return await reader.ReadToEndAsync(cts.Token);
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException or OperationCanceledException)
        {
            return null;
        }
    }

    private static async Task<string> PollAsync(Func<Task<string?>> read, string wanted, TimeSpan budget)
    {
        var deadline = DateTime.UtcNow + budget;
        string? last;
        while (!((last = await read()) ?? "").Contains(wanted, StringComparison.Ordinal) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
        }
        return last ?? "";
    }

    [SkippableFact]
    public async Task Sandbox_PublishedPortNatAndNames_WorkLikeAContainers_AndRemovalLeavesNothing()
    {
        RequireNetworks();
        await _networks.CreateAsync(new CreateNetworkRequest { Name = "front" }, "default", CancellationToken.None);
        await _networks.CreateAsync(new CreateNetworkRequest { Name = "back" }, "default", CancellationToken.None);
        const string Serve = "mkdir -p /tmp/www && echo {0} > /tmp/www/index.html && exec httpd -f -p 80 -h /tmp/www";
        var web = await StartAsync(_containers, "container", "web", new InstanceSpec { Network = "front", Args = ["sh", "-c", string.Format(null, Serve, "hello-from-container")] });
        var other = await StartAsync(_containers, "container", "other", new InstanceSpec { Network = "back", Args = ["sleep", "600"] });
        var port = NetworkCensus.FreePort();
        var anyPort = NetworkCensus.FreePort();
        var before = Census();
        DriverHandle? late = null;
        // "Outside": a namespace of the test's own behind a veth (10.236.254.0/30), routed by the host, serving a CGI
        // that prints the client address it sees. Made before the guest boots, removed after it is gone, so the guest's
        // traffic to it never leaves the machine.
        var outside = $"sbo-{s_tag}";
        using var outsideServer = StartOutside(outside);
        try
        {
            // The guest serves a page, fetches the container's by name, checks that a member of another network does not
            // resolve, then waits for a member that joins after it booted ("late") to resolve and fetches its page.
            var guest = await StartAsync(_sandboxes, "sandbox", "guest", new InstanceSpec
            {
                Network = "front",
                Ports = [PortSpec.Parse($"127.0.0.1:{port}:80"), PortSpec.Parse($"{anyPort}:80")],
                Args = ["sh", "-c",
                    "mkdir -p /tmp/www && echo hello-from-sandbox > /tmp/www/index.html && httpd -p 80 -h /tmp/www; " +
                    "i=0; until wget -q -O /tmp/web http://web/; do i=$((i+1)); [ $i -gt 300 ] && break; sleep 0.2; done; echo \"web-says $(cat /tmp/web)\"; " +
                    "ping -c 1 -W 1 other 2>&1 | grep -q 'bad address' && echo other-unresolved; " +
                    "i=0; until wget -q -O /tmp/seen http://10.236.254.2/cgi-bin/ip; do i=$((i+1)); [ $i -gt 50 ] && break; sleep 0.2; done; echo \"outside-sees $(cat /tmp/seen)\"; " +
                    "i=0; until wget -q -O /tmp/late http://late/; do i=$((i+1)); [ $i -gt 1500 ] && break; sleep 0.2; done; echo \"late-says $(cat /tmp/late)\"; sleep 600"],
            });
            string Diagnostics() => "\nguest stdout: " + SandboxTestHost.Stream(guest, "stdout") + "\nguest stderr: " + SandboxTestHost.Stream(guest, "stderr")
                + "\nserial: " + ReadIfExists(Path.Combine(guest.Directory, "serial.log")) + "\nqemu: " + ReadIfExists(Path.Combine(guest.Directory, "qemu.log"));
            try
            {
                var address = guest.Data["address"];
                var during = Census();
                // Outbound NAT as the bridge plugin's ipMasq makes it for a container: POSTROUTING for the address into a
                // chain of its own that masquerades; the published port is a DNAT to the guest.
                var nat = NetworkCensus.RuleText("nat");
                var jump = nat.Split('\n').FirstOrDefault(l => l.StartsWith($"-A POSTROUTING -s {address}/32", StringComparison.Ordinal));
                Assert.True(jump is not null, nat);
                var chain = jump!.Split(' ')[^1];
                Assert.Contains($"-A {chain} ! -d 224.0.0.0/4", nat, StringComparison.Ordinal);
                Assert.Contains("-j MASQUERADE", nat.Split('\n').First(l => l.StartsWith($"-A {chain} ! -d", StringComparison.Ordinal)), StringComparison.Ordinal);
                Assert.Contains($"--to-destination {address}:80", nat, StringComparison.Ordinal);

                // The same host port again: 409 at create, and nothing is made (no tap, lease or rule).
                var dup = _temp.Combine("dup");
                Directory.CreateDirectory(dup);
                var conflict = await Assert.ThrowsAsync<StrataException>(() => _sandboxes.CreateAsync(new CreateRequest
                {
                    InstanceId = Guid.NewGuid().ToString("N"), Name = "dup", Project = "default", Directory = dup,
                    Spec = new InstanceSpec { Name = "dup", Tier = "sandbox", Image = "busybox", Network = "front", Ports = [PortSpec.Parse($"127.0.0.1:{port}:80")], Args = ["true"] },
                }, CancellationToken.None));
                Assert.Equal(ErrorKind.Conflict, conflict.Kind);
                Assert.Equal(during, Census());
                Assert.Empty(Directory.EnumerateFileSystemEntries(dup));

                // The host reaches the guest's httpd on 127.0.0.1:PORT (polling while it boots).
                var page = await PollAsync(() => GetAsync(port), "hello-from-sandbox", BootBudget);
                Assert.True(page.Contains("hello-from-sandbox", StringComparison.Ordinal), "127.0.0.1:" + port + " answered: " + page + Diagnostics());
                // A port published on every address answers on a host address other than loopback too (the network's
                // gateway, an address of this host the test made) and on loopback.
                var gateway = System.Net.IPAddress.Parse(_networks.Get("front", "default").Gateway);
                Assert.Contains("hello-from-sandbox", await PollAsync(() => GetAsync(anyPort, gateway), "hello-from-sandbox", TimeSpan.FromSeconds(30)), StringComparison.Ordinal);
                Assert.Contains("hello-from-sandbox", await PollAsync(() => GetAsync(anyPort), "hello-from-sandbox", TimeSpan.FromSeconds(30)), StringComparison.Ordinal);

                // A container on the network reaches the sandbox by name.
                var client = await StartAsync(_containers, "container", "client", new InstanceSpec
                {
                    Network = "front",
                    Args = ["sh", "-c", "i=0; until wget -q -O - http://guest/; do i=$((i+1)); [ $i -gt 300 ] && exit 1; sleep 0.2; done"],
                });
                var (clientCode, clientOutput) = await WaitOutputAsync(_containers, client);
                await _containers.DeleteAsync(client, CancellationToken.None);
                Assert.True(clientCode == 0 && clientOutput.Contains("hello-from-sandbox", StringComparison.Ordinal), clientOutput + Diagnostics());

                // The guest resolved the container by name, and not the member of the other network.
                var output = await PollAsync(() => Task.FromResult<string?>(SandboxTestHost.Stream(guest, "stdout")), "other-unresolved", TimeSpan.FromSeconds(60));
                Assert.True(output.Contains("web-says hello-from-container", StringComparison.Ordinal) && output.Contains("other-unresolved", StringComparison.Ordinal), output + Diagnostics());
                // Outbound NAT works: the outside namespace sees the host's address on its link, not the guest's.
                output = await PollAsync(() => Task.FromResult<string?>(SandboxTestHost.Stream(guest, "stdout")), "outside-sees", TimeSpan.FromSeconds(60));
                Assert.True(output.Contains("outside-sees 10.236.254.1", StringComparison.Ordinal), output + Diagnostics());

                // A member that joins now becomes resolvable in the running guest.
                late = await StartAsync(_containers, "container", "late", new InstanceSpec { Network = "front", Args = ["sh", "-c", string.Format(null, Serve, "hello-from-late")] });
                output = await PollAsync(() => Task.FromResult<string?>(SandboxTestHost.Stream(guest, "stdout")), "late-says", TimeSpan.FromSeconds(60));
                Assert.True(output.Contains("late-says hello-from-late", StringComparison.Ordinal), output + Diagnostics());

                // A member of another network resolves neither the sandbox nor the container.
                var outsider = await StartAsync(_containers, "container", "outsider", new InstanceSpec
                {
                    Network = "back",
                    Args = ["sh", "-c", "for n in guest web; do ping -c 1 -W 1 $n 2>&1 | grep -q 'bad address' && echo $n-unresolved; done; cat /etc/hosts"],
                });
                var (_, outsiderOutput) = await WaitOutputAsync(_containers, outsider);
                await _containers.DeleteAsync(outsider, CancellationToken.None);
                Assert.True(outsiderOutput.Contains("guest-unresolved", StringComparison.Ordinal) && outsiderOutput.Contains("web-unresolved", StringComparison.Ordinal), outsiderOutput);
            }
            finally
            {
                await RemoveAsync(_sandboxes, guest);
            }
            var address2 = guest.Data["address"];
            var natAfter = NetworkCensus.RuleText("nat");
            Assert.DoesNotContain($"{address2}/32", natAfter, StringComparison.Ordinal);
            Assert.DoesNotContain($"{address2}:80", natAfter, StringComparison.Ordinal);
            await RemoveAsync(_containers, late!);
            late = null;
            Assert.Equal(before, Census());
        }
        finally
        {
            if (late is not null)
            {
                await RemoveAsync(_containers, late);
            }
            await RemoveAsync(_containers, web);
            await RemoveAsync(_containers, other);
            await _networks.RemoveAsync("front", "default", CancellationToken.None);
            await _networks.RemoveAsync("back", "default", CancellationToken.None);
            StopOutside(outside, outsideServer);
        }
    }

    /// <summary>A namespace with a veth to the host (host 10.236.254.1, namespace .2) running busybox httpd with a CGI printing REMOTE_ADDR.</summary>
    private Process StartOutside(string ns)
    {
        var www = _temp.Combine("outside");
        Directory.CreateDirectory(Path.Combine(www, "cgi-bin"));
        var cgi = Path.Combine(www, "cgi-bin", "ip");
        File.WriteAllText(cgi, "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n%s\\n' \"$REMOTE_ADDR\"\n");
        File.SetUnixFileMode(cgi, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        string[][] steps =
        [
            ["netns", "add", ns],
            ["link", "add", "vo" + s_tag, "type", "veth", "peer", "name", "vi" + s_tag, "netns", ns],
            ["addr", "add", "10.236.254.1/30", "dev", "vo" + s_tag],
            ["link", "set", "vo" + s_tag, "up"],
            ["-n", ns, "addr", "add", "10.236.254.2/30", "dev", "vi" + s_tag],
            ["-n", ns, "link", "set", "vi" + s_tag, "up"],
            ["-n", ns, "link", "set", "lo", "up"],
        ];
        try
        {
            foreach (var step in steps)
            {
                using var ip = Process.Start(new ProcessStartInfo("ip", step) { RedirectStandardError = true })!;
                var error = ip.StandardError.ReadToEnd();
                ip.WaitForExit();
                Assert.True(ip.ExitCode == 0, $"ip {string.Join(' ', step)}: {error}");
            }
            return Process.Start(new ProcessStartInfo("ip", ["netns", "exec", ns, "/bin/busybox", "httpd", "-f", "-p", "10.236.254.2:80", "-h", www]))!;
        }
        catch
        {
            Host("ip", "netns", "del", ns);
            throw;
        }
    }

    private static void StopOutside(string ns, Process server)
    {
        if (!server.HasExited)
        {
            server.Kill();
            server.WaitForExit();
        }
        Host("ip", "netns", "del", ns); // takes the veth pair with it
    }

    [SkippableFact]
    public async Task AttachTap_NatOnlyOffInternalNetworks_PortsConflict_AndDetachRemovesRules()
    {
        RequireNetworks();
        await _networks.CreateAsync(new CreateNetworkRequest { Name = "outer" }, "default", CancellationToken.None);
        await _networks.CreateAsync(new CreateNetworkRequest { Name = "inner", Internal = true }, "default", CancellationToken.None);
        var port = NetworkCensus.FreePort();
        var a = "n" + Guid.NewGuid().ToString("N");
        var b = "i" + Guid.NewGuid().ToString("N");
        try
        {
            var before = Census();
            var outer = await _networks.AttachTapAsync(new NetworkAttachRequest
            {
                InstanceId = a, Name = "a", Project = "default", Network = "outer", Ports = [PortSpec.Parse($"127.0.0.1:{port}:8080/udp")],
            }, CancellationToken.None);
            var inner = await _networks.AttachTapAsync(new NetworkAttachRequest { InstanceId = b, Name = "b", Project = "default", Network = "inner" }, CancellationToken.None);
            Assert.Null(inner.Gateway);
            var nat = NetworkCensus.RuleText("nat");
            Assert.Contains($"-A POSTROUTING -s {outer.Address}/32", nat, StringComparison.Ordinal);
            Assert.Contains($"--to-destination {outer.Address}:8080", nat, StringComparison.Ordinal);
            Assert.DoesNotContain($"{inner.Address}/32", nat, StringComparison.Ordinal);
            Assert.Equal("1", File.ReadAllText("/proc/sys/net/ipv4/ip_forward").Trim());
            Assert.Equal([$"127.0.0.1:{port}:8080/udp"], _networks.Get("outer", "default").Members.Single().Ports.Select(p => p.ToString()));

            // The port is taken now (DNAT holds no socket: the registry itself must refuse), on every address too.
            var during = Census();
            var clash = await Assert.ThrowsAsync<StrataException>(() => _networks.AttachTapAsync(new NetworkAttachRequest
            {
                InstanceId = "c" + Guid.NewGuid().ToString("N"), Name = "c", Project = "default", Network = "outer", Ports = [PortSpec.Parse($"{port}:80/udp")],
            }, CancellationToken.None));
            Assert.Equal(ErrorKind.Conflict, clash.Kind);
            Assert.Equal(during, Census());

            Assert.Empty(await _networks.DetachAsync(a, CancellationToken.None));
            Assert.Empty(await _networks.DetachAsync(b, CancellationToken.None));
            nat = NetworkCensus.RuleText("nat");
            Assert.DoesNotContain($"{outer.Address}/32", nat, StringComparison.Ordinal);
            Assert.DoesNotContain($"{outer.Address}:8080", nat, StringComparison.Ordinal);
            Assert.Equal(before, Census());
        }
        finally
        {
            await _networks.DetachAsync(a, CancellationToken.None);
            await _networks.DetachAsync(b, CancellationToken.None);
            await _networks.RemoveAsync("outer", "default", CancellationToken.None);
            await _networks.RemoveAsync("inner", "default", CancellationToken.None);
        }
    }

    [SkippableFact]
    public async Task EnsureTapAttached_TapGoneAsAfterAReboot_MakesTapRulesAndLeaseAgain_AndDetachLeavesNothing()
    {
        RequireNetworks();
        await _networks.CreateAsync(new CreateNetworkRequest { Name = "again" }, "default", CancellationToken.None);
        var port = NetworkCensus.FreePort();
        var id = "r" + Guid.NewGuid().ToString("N");
        try
        {
            var before = Census();
            var first = await _networks.AttachTapAsync(new NetworkAttachRequest
            {
                InstanceId = id, Name = "rebooted", Project = "default", Network = "again", Ports = [PortSpec.Parse($"127.0.0.1:{port}:80")],
            }, CancellationToken.None);
            // Present: nothing to do, the same attachment.
            Assert.Equal(first, await _networks.EnsureTapAttachedAsync(id, CancellationToken.None));

            // A host reboot removes the tap (and with it the bridge port); the membership and the lease file stay.
            Host("ip", "link", "del", first.Tap);
            var again = await _networks.EnsureTapAttachedAsync(id, CancellationToken.None) ?? throw new Xunit.Sdk.XunitException("no attachment");

            Assert.Equal(first.Tap, again.Tap);
            Assert.True(Directory.Exists(Path.Combine("/sys/class/net", again.Tap, "brport")), "the new tap is not on the bridge");
            var nat = NetworkCensus.RuleText("nat");
            Assert.Contains($"--to-destination {again.Address}:80", nat, StringComparison.Ordinal);
            Assert.Single(nat.Split('\n'), l => l.StartsWith($"-A POSTROUTING -s {again.Address}/32", StringComparison.Ordinal));
            var member = _networks.Get("again", "default").Members.Single();
            Assert.Equal(("rebooted", again.Address, $"127.0.0.1:{port}:80/tcp"), (member.Instance, member.Address, member.Ports.Single().ToString()));
            Assert.Null(await _networks.EnsureTapAttachedAsync("not-a-member", CancellationToken.None));

            Assert.Empty(await _networks.DetachAsync(id, CancellationToken.None));
            Assert.Equal(before, Census());
        }
        finally
        {
            await _networks.DetachAsync(id, CancellationToken.None);
            await _networks.RemoveAsync("again", "default", CancellationToken.None);
        }
    }

    [SkippableFact]
    public async Task AttachTap_NetworkFull_LeavesNoTapLeaseOrRule_AndDetachCleansUp()
    {
        RequireNetworks();
        // A /28 has 13 addresses for members (the first is the gateway): the 14th VM's IPAM runs dry after its tap exists.
        await _networks.CreateAsync(new CreateNetworkRequest { Name = "tiny", Subnet = "10.236.250.0/28" }, "default", CancellationToken.None);
        var ids = new List<string>();
        try
        {
            var before = Census();
            for (var i = 0; i < 13; i++)
            {
                ids.Add($"a{i}" + Guid.NewGuid().ToString("N"));
                var tap = await _networks.AttachTapAsync(new NetworkAttachRequest { InstanceId = ids[^1], Name = $"m{i}", Project = "default", Network = "tiny" }, CancellationToken.None);
                Assert.Equal(28, tap.Prefix);
                Assert.True(Directory.Exists(Path.Combine("/sys/class/net", tap.Tap)));
            }
            var during = Census();
            Assert.Equal(before.Taps + 13, during.Taps);
            Assert.Equal(before.Leases + 13, during.Leases);

            var last = "b" + Guid.NewGuid().ToString("N");
            await Assert.ThrowsAsync<StrataException>(() => _networks.AttachTapAsync(new NetworkAttachRequest { InstanceId = last, Name = "last", Project = "default", Network = "tiny" }, CancellationToken.None));
            Assert.Equal(during, Census());
            Assert.Null(_networks.TapAttachmentOf(last));

            foreach (var id in ids)
            {
                Assert.Empty(await _networks.DetachAsync(id, CancellationToken.None));
            }
            ids.Clear();
            var after = Census();
            Assert.Equal(before.Taps, after.Taps);
            Assert.Equal(before.Leases, after.Leases);
            Assert.Equal(before.Nat, after.Nat);
            Assert.Empty(_networks.Get("tiny", "default").Members);
        }
        finally
        {
            foreach (var id in ids)
            {
                await _networks.DetachAsync(id, CancellationToken.None);
            }
            await _networks.RemoveAsync("tiny", "default", CancellationToken.None);
        }
    }
}
