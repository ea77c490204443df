using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Networking;

namespace Strata.Network.Tests;

/// <summary>
/// Networks joined after create (<c>strata network connect</c>) through the real ContainerDriver, runc and the CNI
/// plugins: another veth in the container's namespace, names in the hosts files, kept across a restart of the
/// container, of the daemon (a new registry over the same state) and of the host (the namespace vanished).
/// </summary>
[Collection(NetworkCollection.Name)]
public sealed class ConnectNetworkTests(NetworkFixture fx)
{
    private static InstanceSpec Server(string network) => new()
    {
        Network = network,
        Args = ["sh", "-c", "mkdir -p /tmp/www && echo hello-from-$HOSTNAME > /tmp/www/index.html && exec httpd -f -p 80 -h /tmp/www"],
    };

    /// <summary>A long-running container on <paramref name="network"/> that tests exec into.</summary>
    private static InstanceSpec Idle(string network) => new() { Network = network, Args = ["sleep", "600"] };

    private async Task<(int Code, string Output)> ExecAsync(DriverHandle handle, string script)
    {
        var output = new System.Text.StringBuilder();
        var code = await fx.Driver.ExecAsync(handle, new ExecRequest { Command = ["sh", "-c", script] }, (_, bytes) =>
        {
            lock (output)
            {
                output.Append(System.Text.Encoding.UTF8.GetString(bytes.Span));
            }
            return ValueTask.CompletedTask;
        }, CancellationToken.None);
        return (code, output.ToString());
    }

    /// <summary>
    /// A page of <paramref name="target"/>, retried for a while (the server may still be starting). Each try is cut
    /// short by <c>timeout</c>: busybox-static's own <c>wget -T</c> crashes.
    /// </summary>
    private static string Fetch(string target, int attempts = 30) =>
        $"i=0; while [ $i -lt {attempts} ]; do timeout 2 wget -q -O - http://{target}/ 2>/dev/null && exit 0; i=$((i+1)); sleep 0.2; done; echo unreachable; exit 1";

    [SkippableFact]
    public async Task Connect_RunningContainer_ReachesTheOtherNetworkByName_UntilDisconnected()
    {
        fx.RequireEngine();
        var front = "n23-front";
        var back = "n23-back";
        await fx.Networks.CreateAsync(new CreateNetworkRequest { Name = front }, "default", CancellationToken.None);
        await fx.Networks.CreateAsync(new CreateNetworkRequest { Name = back }, "default", CancellationToken.None);
        var server = await fx.StartAsync("n23-web", Server(back));
        var client = await fx.StartAsync("n23-client", Idle(front));
        try
        {
            // Before: another network, so neither the name nor the address is reachable.
            Assert.NotEqual(0, (await ExecAsync(client, Fetch("n23-web", attempts: 2))).Code);

            client = await fx.Driver.ConnectNetworkAsync(client, "default", back, ["n23-cli-alias"], CancellationToken.None);
            var connected = Assert.Single(fx.Networks.Connections(client.InstanceId));
            Assert.Equal((back, "eth1"), (connected.Network, connected.Interface));
            Assert.Equal($"{back}={connected.Address}", client.Data[INetworkConnectDriver.ConnectedKey]);
            Assert.Equal(front, fx.Networks.Attachment(client.InstanceId)!.Network); // the first network stays eth0

            var (code, page) = await ExecAsync(client, Fetch("n23-web"));
            Assert.True(code == 0, page);
            Assert.Contains("hello-from-n23-web", page);
            // The server resolves the client (and its alias) to its address on their shared network.
            var hosts = (await ExecAsync(server, "cat /etc/hosts")).Output;
            Assert.Contains($"{connected.Address}\tn23-client n23-cli-alias", hosts);
            Assert.Equal("eth1", fx.Networks.Get(back, "default").Members.Single(m => m.Instance == "n23-client").Interface);

            // Joining twice, or a network of another project, is refused and changes nothing.
            var twice = await Assert.ThrowsAsync<StrataException>(() => fx.Driver.ConnectNetworkAsync(client, "default", back, [], CancellationToken.None));
            Assert.Equal(ErrorKind.Conflict, twice.Kind);
            await fx.Networks.CreateAsync(new CreateNetworkRequest { Name = "n23-other" }, "n23tenant", CancellationToken.None);
            try
            {
                var foreign = await Assert.ThrowsAsync<StrataException>(() => fx.Networks.ConnectAsync(client.InstanceId, "n23-other", [], CancellationToken.None));
                Assert.Equal(ErrorKind.NotFound, foreign.Kind);
                Assert.Single(fx.Networks.Connections(client.InstanceId));
            }
            finally
            {
                await fx.Networks.RemoveAsync("n23-other", "n23tenant", CancellationToken.None);
            }

            // The network the container was created on is left only by removing it.
            var first = await Assert.ThrowsAsync<StrataException>(() => fx.Driver.DisconnectNetworkAsync(client, "default", front, CancellationToken.None));
            Assert.Contains("created on", first.Message);

            client = await fx.Driver.DisconnectNetworkAsync(client, "default", back, CancellationToken.None);
            Assert.Empty(fx.Networks.Connections(client.InstanceId));
            Assert.False(client.Data.ContainsKey(INetworkConnectDriver.ConnectedKey));
            var (after, output) = await ExecAsync(client, $"( {Fetch("n23-web", attempts: 2)} ); rc=$?; ls /sys/class/net; exit $rc");
            Assert.NotEqual(0, after);
            Assert.Contains("eth0", output);
            Assert.DoesNotContain("eth1", output);
            // Not even by address: the veth is gone.
            var byAddress = await ExecAsync(client, $"timeout 2 wget -q -O - http://{fx.Networks.Attachment(server.InstanceId)!.Address}/ || echo blocked");
            Assert.Contains("blocked", byAddress.Output);
            Assert.DoesNotContain("n23-client", (await ExecAsync(server, "cat /etc/hosts")).Output);
            Assert.DoesNotContain(fx.Networks.Get(back, "default").Members, m => m.Instance == "n23-client");
        }
        finally
        {
            await fx.RemoveAsync(client);
            await fx.RemoveAsync(server);
            await fx.Networks.RemoveAsync(front, "default", CancellationToken.None);
            await fx.Networks.RemoveAsync(back, "default", CancellationToken.None);
        }
    }

    [SkippableFact]
    public async Task Connect_CreatedContainer_KeepsTheNetworkAcrossRestartDaemonRestartAndReboot()
    {
        fx.RequireEngine();
        var first = "n23-first";
        var second = "n23-second";
        await fx.Networks.CreateAsync(new CreateNetworkRequest { Name = first }, "default", CancellationToken.None);
        await fx.Networks.CreateAsync(new CreateNetworkRequest { Name = second }, "default", CancellationToken.None);
        var server = await fx.StartAsync("n23-srv", Server(second));
        var handle = await fx.CreateAsync("n23-late", Idle(first));
        try
        {
            // Connected while only created: the namespace exists from create on.
            handle = await fx.Driver.ConnectNetworkAsync(handle, "default", second, [], CancellationToken.None);
            handle = await fx.Driver.StartAsync(handle, CancellationToken.None);
            var (code, page) = await ExecAsync(handle, Fetch("n23-srv"));
            Assert.True(code == 0, page);

            // A restart of the container keeps the interface (the namespace lives until removal).
            await fx.Driver.StopAsync(handle, TimeSpan.Zero, CancellationToken.None);
            using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
            {
                await fx.Driver.WaitAsync(handle, cts.Token);
            }
            handle = await fx.Driver.StartAsync(handle, CancellationToken.None);
            Assert.Equal(0, (await ExecAsync(handle, Fetch("n23-srv"))).Code);

            // A restarted daemon reads the membership back from networks.json.
            using (var reloaded = new NetworkRegistry(fx.Options))
            {
                var c = Assert.Single(reloaded.Connections(handle.InstanceId));
                Assert.Equal((second, "eth1"), (c.Network, c.Interface));
            }

            // A reboot empties /run/netns: the next start joins both networks again, eth1 included.
            await fx.Driver.StopAsync(handle, TimeSpan.Zero, CancellationToken.None);
            using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
            {
                await fx.Driver.WaitAsync(handle, cts.Token);
            }
            var ns = fx.Networks.Attachment(handle.InstanceId)!.NamespacePath;
            using (var del = System.Diagnostics.Process.Start("ip", ["netns", "del", Path.GetFileName(ns)]))
            {
                await del.WaitForExitAsync();
            }
            Assert.False(File.Exists(ns));
            handle = await fx.Driver.StartAsync(handle, CancellationToken.None);
            var (again, output) = await ExecAsync(handle, $"( {Fetch("n23-srv")} ) && ls /sys/class/net");
            Assert.True(again == 0, output);
            Assert.Contains("eth1", output);
            Assert.Equal("eth1", Assert.Single(fx.Networks.Connections(handle.InstanceId)).Interface);
        }
        finally
        {
            await fx.RemoveAsync(handle);
            await fx.RemoveAsync(server);
        }
        // Removal leaves both networks: nothing of the instance is left in either (so they can be removed).
        Assert.Empty(fx.Networks.Connections(handle.InstanceId));
        Assert.Null(fx.Networks.Attachment(handle.InstanceId));
        await fx.Networks.RemoveAsync(first, "default", CancellationToken.None);
        await fx.Networks.RemoveAsync(second, "default", CancellationToken.None);
    }

    [SkippableFact]
    public async Task Connect_ContainerWithoutANetwork_IsAClearError()
    {
        fx.RequireEngine();
        await fx.Networks.CreateAsync(new CreateNetworkRequest { Name = "n23-lonely" }, "default", CancellationToken.None);
        var handle = await fx.CreateAsync("n23-none", new InstanceSpec { Network = "none", Args = ["true"] });
        try
        {
            var e = await Assert.ThrowsAsync<StrataException>(() => fx.Driver.ConnectNetworkAsync(handle, "default", "n23-lonely", [], CancellationToken.None));
            Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
            Assert.Contains("--network n23-lonely", e.Message);
            Assert.Empty(fx.Networks.Get("n23-lonely", "default").Members);
        }
        finally
        {
            await fx.RemoveAsync(handle);
            await fx.Networks.RemoveAsync("n23-lonely", "default", CancellationToken.None);
        }
    }
}
