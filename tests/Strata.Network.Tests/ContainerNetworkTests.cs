using System.Diagnostics;
using System.Net.Http;
using Strata.Contracts;
using Strata.Node.Networking;

namespace Strata.Network.Tests;

/// <summary>
/// Containers on bridge networks, through the real ContainerDriver, runc and the CNI plugins. Traffic goes only
/// to loopback and to addresses of the containers these tests create.
/// </summary>
[Collection(NetworkCollection.Name)]
public sealed class ContainerNetworkTests(NetworkFixture fx, Xunit.Abstractions.ITestOutputHelper output)
{
    // The server writes a page and serves it; clients poll it with a deadline of their own.
    private static InstanceSpec Server(string network, IReadOnlyList<PortSpec>? ports = null) => new()
    {
        Network = network,
        Ports = ports,
        Args = ["sh", "-c", "mkdir -p /tmp/www && echo hello-from-$HOSTNAME > /tmp/www/index.html && exec httpd -f -p 80 -h /tmp/www"],
    };

    private static InstanceSpec Client(string network, string target, int attempts = 50) => new()
    {
        Network = network,
        Args = ["sh", "-c", $"i=0; while [ $i -lt {attempts} ]; do wget -q -O - http://{target}/ 2>/dev/null && exit 0; i=$((i+1)); sleep 0.1; done; echo unreachable; exit 1"],
    };

    [SkippableFact]
    public async Task Containers_SameNetwork_ReachEachOtherByName_OtherNetworkCannot()
    {
        fx.RequireEngine();
        await fx.Networks.CreateAsync(new CreateNetworkRequest { Name = "front" }, "default", CancellationToken.None);
        await fx.Networks.CreateAsync(new CreateNetworkRequest { Name = "back" }, "default", CancellationToken.None);
        var server = await fx.StartAsync("web", Server("front"));
        try
        {
            var address = server.Data["address"];
            Assert.StartsWith("10.232.", address, StringComparison.Ordinal);

            var (code, output) = await fx.RunAsync("client", Client("front", "web"));
            Assert.True(code == 0, output);
            Assert.Contains("hello-from-web", output);

            // Another network: the name does not resolve, and the address is unreachable (isolation rules).
            var byName = await fx.RunAsync("outsider", Client("back", "web", attempts: 3));
            Assert.NotEqual(0, byName.Code);
            var byAddress = await fx.RunAsync("outsider2", new InstanceSpec
            {
                Network = "back",
                Args = ["sh", "-c", $"timeout 3 nc {address} 80 </dev/null && echo connected || echo blocked"],
            });
            Assert.Contains("blocked", byAddress.Output);
            Assert.DoesNotContain("connected", byAddress.Output);
        }
        finally
        {
            await fx.RemoveAsync(server);
            await fx.Networks.RemoveAsync("front", "default", CancellationToken.None);
            await fx.Networks.RemoveAsync("back", "default", CancellationToken.None);
        }
    }

    [SkippableFact]
    public async Task PublishedPort_OnLoopback_ReachableFromHost()
    {
        fx.RequireEngine();
        var server = await fx.StartAsync("published", Server(fx.Options.DefaultNetwork, [PortSpec.Parse("127.0.0.1:18080:80")]));
        try
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
            var deadline = Stopwatch.StartNew();
            string? body = null;
            while (body is null && deadline.Elapsed < TimeSpan.FromSeconds(20))
            {
                try
                {
                    body = await http.GetStringAsync("http://127.0.0.1:18080/");
                }
                catch (HttpRequestException)
                {
                    await Task.Yield(); // httpd is still starting: poll until the deadline
                }
            }
            Assert.Equal("hello-from-published\n", body);

            // The same host port again: a clear conflict at create time, naming the holder.
            var clash = await Assert.ThrowsAsync<StrataException>(() => fx.CreateAsync("clash", Server(fx.Options.DefaultNetwork, [PortSpec.Parse("18080:80")])));
            Assert.Equal(ErrorKind.Conflict, clash.Kind);
            Assert.Contains("published", clash.Message);
        }
        finally
        {
            await fx.RemoveAsync(server);
        }
    }

    [SkippableFact]
    public async Task PublishedPort_HeldByAnotherProgram_IsAConflict()
    {
        fx.RequireEngine();
        using var holder = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        holder.Start();
        var port = ((System.Net.IPEndPoint)holder.LocalEndpoint).Port;
        var e = await Assert.ThrowsAsync<StrataException>(() => fx.CreateAsync("busy", Server(fx.Options.DefaultNetwork, [PortSpec.Parse($"127.0.0.1:{port}:80")])));
        Assert.Equal(ErrorKind.Conflict, e.Kind);
        Assert.Contains("in use", e.Message);
    }

    [SkippableFact]
    public async Task NetworkNone_HasOnlyLoopback()
    {
        fx.RequireEngine();
        var (code, output) = await fx.RunAsync("lonely", new InstanceSpec { Network = "none", Args = ["sh", "-c", "ls /sys/class/net"] });
        Assert.Equal(0, code);
        Assert.Equal("lo", output.Trim());
    }

    [SkippableFact]
    public async Task ResolvConf_BridgeMemberGetsTheHostsResolversWithoutLoopback_InternalGetsNone_HostGetsTheHostsFile()
    {
        fx.RequireEngine();
        var expected = ResolvConf.ForBridge(File.Exists(ResolvConf.HostPath) ? File.ReadAllText(ResolvConf.HostPath) : null, internalNetwork: false,
            File.Exists(ResolvConf.SystemdUpstreamPath) ? File.ReadAllText(ResolvConf.SystemdUpstreamPath) : null);
        var (code, output) = await fx.RunAsync("resolver", new InstanceSpec { Network = fx.Options.DefaultNetwork, Args = ["sh", "-c", "cat /etc/resolv.conf; echo x >> /etc/resolv.conf || echo read-only"] });
        Assert.Equal(0, code);
        foreach (var line in expected.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            Assert.Contains(line, output);
        }
        Assert.Contains("read-only", output); // bind-mounted read-only, like the hosts file
        Assert.DoesNotContain("nameserver 127.", output);

        await fx.Networks.CreateAsync(new CreateNetworkRequest { Name = "nodns", Internal = true }, "default", CancellationToken.None);
        try
        {
            (code, output) = await fx.RunAsync("nodns", new InstanceSpec { Network = "nodns", Args = ["cat", "/etc/resolv.conf"] });
            Assert.Equal(0, code);
            Assert.Contains("Internal network", output);
            Assert.DoesNotContain("\nnameserver", output);
        }
        finally
        {
            await fx.Networks.RemoveAsync("nodns", "default", CancellationToken.None);
        }

        if (File.Exists(ResolvConf.HostPath))
        {
            (code, output) = await fx.RunAsync("hostdns", new InstanceSpec { Network = "host", Args = ["cat", "/etc/resolv.conf"] });
            Assert.Equal(0, code);
            Assert.Equal(File.ReadAllText(ResolvConf.HostPath).Trim(), output.Trim());
        }
    }

    [Fact]
    public void ResolvConfForBridge_DropsLoopbackNameserversKeepsSearchAndOptions_FallsBackToSystemdUpstream()
    {
        var host = "# comment\nnameserver 127.0.0.53\nnameserver ::1\nnameserver 192.0.2.10\nsearch example.test\noptions ndots:2\n";
        var bridge = ResolvConf.ForBridge(host, internalNetwork: false);
        Assert.Contains("nameserver 192.0.2.10\n", bridge);
        Assert.DoesNotContain("127.0.0.53", bridge);
        Assert.DoesNotContain("::1", bridge);
        Assert.Contains("search example.test\n", bridge);
        Assert.Contains("options ndots:2\n", bridge);

        var stubOnly = ResolvConf.ForBridge("nameserver 127.0.0.53\nsearch lan\n", internalNetwork: false, "nameserver 198.51.100.7\nsearch lan\n");
        Assert.Contains("nameserver 198.51.100.7\n", stubOnly);
        Assert.DoesNotContain("127.0.0.53", stubOnly);

        var sealedNet = ResolvConf.ForBridge(host, internalNetwork: true);
        Assert.DoesNotContain("\nnameserver", sealedNet);
        Assert.Contains("search example.test\n", sealedNet);
    }

    [SkippableFact]
    public async Task InternalNetwork_HasNoDefaultRoute_AndNoMasquerade()
    {
        fx.RequireEngine();
        await fx.Networks.CreateAsync(new CreateNetworkRequest { Name = "sealed", Internal = true }, "default", CancellationToken.None);
        try
        {
            var (code, output) = await fx.RunAsync("inside", new InstanceSpec { Network = "sealed", Args = ["sh", "-c", "ip route; ls /sys/class/net"] });
            Assert.Equal(0, code);
            Assert.Contains("eth0", output);
            Assert.DoesNotContain("default", output);
        }
        finally
        {
            await fx.Networks.RemoveAsync("sealed", "default", CancellationToken.None);
        }
    }

    [SkippableFact]
    public async Task RemoveNetwork_InUse_IsRefused()
    {
        fx.RequireEngine();
        await fx.Networks.CreateAsync(new CreateNetworkRequest { Name = "busy" }, "default", CancellationToken.None);
        var member = await fx.CreateAsync("member", new InstanceSpec { Network = "busy", Args = ["true"] });
        var e = await Assert.ThrowsAsync<StrataException>(() => fx.Networks.RemoveAsync("busy", "default", CancellationToken.None));
        Assert.Equal(ErrorKind.Conflict, e.Kind);
        Assert.Contains("member", e.Message);
        await fx.RemoveAsync(member);
        await fx.Networks.RemoveAsync("busy", "default", CancellationToken.None);
        Assert.DoesNotContain(fx.Networks.List("default"), n => n.Name == "busy");
    }

    [SkippableFact]
    public async Task UnknownNetwork_IsNotFound_AndLeavesNothing()
    {
        fx.RequireEngine();
        var before = HostNetworkState.Capture(fx);
        var e = await Assert.ThrowsAsync<StrataException>(() => fx.CreateAsync("lost", new InstanceSpec { Network = "nowhere", Args = ["true"] }));
        Assert.Equal(ErrorKind.NotFound, e.Kind);
        Assert.Equal(before, HostNetworkState.Capture(fx));
    }

    [SkippableFact]
    public async Task CreateFailsHalfway_WhenTheNetworkIsFull_LeavesNothing()
    {
        fx.RequireEngine();
        // A /28 has 13 addresses for instances (the gateway takes one, network and broadcast two).
        await fx.Networks.CreateAsync(new CreateNetworkRequest { Name = "tiny", Subnet = "10.233.0.0/28" }, "default", CancellationToken.None);
        var handles = new List<Strata.Contracts.Drivers.DriverHandle>();
        try
        {
            for (var i = 0; i < 13; i++)
            {
                handles.Add(await fx.CreateAsync($"fill{i}", new InstanceSpec { Network = "tiny", Args = ["true"] }));
            }
            var before = HostNetworkState.Capture(fx);
            // The bridge plugin has made the namespace and veth when IPAM runs dry: all of it must be undone.
            var e = await Assert.ThrowsAsync<StrataException>(() => fx.CreateAsync("overflow", new InstanceSpec { Network = "tiny", Args = ["true"] }));
            Assert.Contains("no IP addresses available", e.Message);
            Assert.Equal(before, HostNetworkState.Capture(fx));
        }
        finally
        {
            foreach (var h in handles)
            {
                await fx.RemoveAsync(h);
            }
            await fx.Networks.RemoveAsync("tiny", "default", CancellationToken.None);
        }
    }

    [SkippableFact]
    public async Task CreateAndRemove100_LeavesNoVethLeaseRuleOrNamespace()
    {
        fx.RequireEngine();
        await fx.Networks.CreateAsync(new CreateNetworkRequest { Name = "churn" }, "default", CancellationToken.None);
        try
        {
            // One round first: the bridge and the plugins' shared chains exist from then on, by design.
            var warm = await fx.CreateAsync("warm", new InstanceSpec { Network = "churn", Ports = [PortSpec.Parse("127.0.0.1:18181:80")], Args = ["true"] });
            await fx.RemoveAsync(warm);
            var before = HostNetworkState.Capture(fx);
            var creating = new Stopwatch();
            var removing = new Stopwatch();
            var baseline = new Stopwatch();
            for (var i = 0; i < 100; i++)
            {
                var ports = i % 10 == 0 ? new[] { PortSpec.Parse($"127.0.0.1:{18200 + i}:80") } : null;
                creating.Start();
                var h = await fx.CreateAsync($"c{i}", new InstanceSpec { Network = "churn", Ports = ports, Args = ["true"] });
                creating.Stop();
                if (i == 0)
                {
                    Assert.NotEqual(before, HostNetworkState.Capture(fx)); // the census does see a member
                }
                removing.Start();
                await fx.RemoveAsync(h);
                removing.Stop();
                if (i % 5 == 0)
                {
                    // Baseline, alternated under the same load: the same container without a network.
                    baseline.Start();
                    var b = await fx.CreateAsync($"b{i}", new InstanceSpec { Network = "none", Args = ["true"] });
                    baseline.Stop();
                    await fx.RemoveAsync(b);
                }
            }
            output.WriteLine($"100 instances: create (with network) {creating.ElapsedMilliseconds / 100.0:0.0} ms, remove {removing.ElapsedMilliseconds / 100.0:0.0} ms on average; create without a network {baseline.ElapsedMilliseconds / 20.0:0.0} ms (20 alternated)");
            Assert.Equal(before, HostNetworkState.Capture(fx));
        }
        finally
        {
            await fx.Networks.RemoveAsync("churn", "default", CancellationToken.None);
        }
    }

    [SkippableFact]
    public async Task Attach_OtherProject_CannotJoinTheDefaultNetworkOrAnotherProjectsNetwork()
    {
        fx.RequireEngine();
        await fx.Networks.CreateAsync(new CreateNetworkRequest { Name = "tenant-a" }, "alpha", CancellationToken.None);
        try
        {
            var before = HostNetworkState.Capture(fx);
            // A bridge shared by two projects would let their instances reach each other: both are refused
            // before anything is made on the host.
            var shared = await Assert.ThrowsAsync<StrataException>(() => fx.Networks.AttachAsync(new NetworkAttachRequest
            {
                InstanceId = "x" + Guid.NewGuid().ToString("N")[..8], Name = "b1", Project = "beta", Network = fx.Options.DefaultNetwork,
            }, CancellationToken.None));
            Assert.Equal(ErrorKind.Forbidden, shared.Kind);
            Assert.Contains("strata network create", shared.Message);
            var foreign = await Assert.ThrowsAsync<StrataException>(() => fx.Networks.AttachAsync(new NetworkAttachRequest
            {
                InstanceId = "x" + Guid.NewGuid().ToString("N")[..8], Name = "b2", Project = "beta", Network = "tenant-a",
            }, CancellationToken.None));
            Assert.Equal(ErrorKind.NotFound, foreign.Kind);
            Assert.Equal(before, HostNetworkState.Capture(fx));
            Assert.DoesNotContain(fx.Networks.List("beta"), n => n.Name == "tenant-a" || n.Name == fx.Options.DefaultNetwork);
            Assert.Contains(fx.Networks.List("alpha"), n => n.Name == "tenant-a");
        }
        finally
        {
            await fx.Networks.RemoveAsync("tenant-a", "alpha", CancellationToken.None);
        }
    }

    [SkippableFact]
    public async Task Prune_MembersOfUnknownInstances_AreDetached()
    {
        fx.RequireEngine();
        await fx.Networks.RemoveAsync(fx.Options.DefaultNetwork, "default", CancellationToken.None);
        var before = HostNetworkState.Capture(fx);
        // What a daemon that died right after attaching leaves: a member no stored instance owns.
        await fx.Networks.AttachAsync(new NetworkAttachRequest { InstanceId = "orphan" + Guid.NewGuid().ToString("N")[..8], Name = "orphan", Project = "default", Network = fx.Options.DefaultNetwork }, CancellationToken.None);
        Assert.NotEqual(before, HostNetworkState.Capture(fx));
        Assert.Equal(1, await fx.Networks.PruneAsync([], CancellationToken.None));
        await fx.Networks.RemoveAsync(fx.Options.DefaultNetwork, "default", CancellationToken.None);
        Assert.Equal(before, HostNetworkState.Capture(fx));
    }

    [SkippableFact]
    public async Task Start_AfterTheNamespaceVanished_JoinsTheNetworkAgain()
    {
        fx.RequireEngine();
        // The census is compared with the network itself gone (its bridge and isolation rules stay while it exists).
        await fx.Networks.RemoveAsync(fx.Options.DefaultNetwork, "default", CancellationToken.None);
        var before = HostNetworkState.Capture(fx);
        var handle = await fx.CreateAsync("rebooted", new InstanceSpec { Network = fx.Options.DefaultNetwork, Args = ["sh", "-c", "ls /sys/class/net; cat /etc/hosts"] });
        try
        {
            // A reboot empties /run/netns; the member and its lease are still on record.
            var ns = fx.Networks.Attachment(handle.InstanceId)!.NamespacePath;
            var r = System.Diagnostics.Process.Start("ip", ["netns", "del", Path.GetFileName(ns)]);
            await r.WaitForExitAsync();
            Assert.False(File.Exists(ns));
            handle = await fx.Driver.StartAsync(handle, CancellationToken.None);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            var exit = await fx.Driver.WaitAsync(handle, cts.Token);
            var output = string.Join("\n", Strata.Node.Logs.CriLogReader.ReadTail(Strata.Node.Logs.LogFiles.LogDirectory(handle.Directory), null).Select(l => l.Text));
            Assert.Equal(0, exit.ExitCode);
            Assert.Contains("eth0", output);
            Assert.Contains(fx.Networks.Attachment(handle.InstanceId)!.Address + "\trebooted", output);
        }
        finally
        {
            await fx.RemoveAsync(handle);
        }
        await fx.Networks.RemoveAsync(fx.Options.DefaultNetwork, "default", CancellationToken.None);
        Assert.Equal(before, HostNetworkState.Capture(fx));
    }
}
