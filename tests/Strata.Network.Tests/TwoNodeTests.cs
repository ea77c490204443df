using System.Diagnostics;
using System.Globalization;
using System.Text;
using Strata.Client;
using Strata.Contracts;
using Strata.Node;
using Strata.Testing;

namespace Strata.Network.Tests;

/// <summary>
/// Two published stratad daemons on one host with their own --root, --socket and --node, each with containers, a
/// sandbox and a network with a published port. Removing everything of one (instances, network, then the daemon)
/// leaves the other's instances running and reaching each other, and the host census back to the other node's alone;
/// once the other is removed too, nothing of either is left. Node names carry a random part, so the host objects
/// (bridges, taps, namespaces, cgroups, rules) are this run's alone.
/// </summary>
[Collection(NetworkCollection.Name)]
public sealed class TwoNodeTests(NetworkFixture fx)
{
    private static readonly string s_tag = string.Concat(Enumerable.Range(0, 5).Select(_ => (char)('a' + Random.Shared.Next(26))));

    private sealed record Node(string Label, NodeScope Scope, string Root, string Socket, string Subnet, int Port)
    {
        public Process? Daemon { get; set; }
        public StrataClient? Client { get; set; }
        public string AddressPrefix => Subnet[..(Subnet.LastIndexOf('.') + 1)];
        public NodeCensus Census() => NodeCensus.Capture(Scope, Root, [AddressPrefix]);
    }

    [SkippableFact]
    public async Task TwoNodes_SideBySide_RemovingOneLeavesTheOtherRunning_AndTheHostAsBefore()
    {
        fx.RequireEngine();
        _ = PublishedDaemon.Binary;
        TestEnvironment.Require(TestEnvironment.Which("qemu-system-x86_64") is not null, "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)");
        TestEnvironment.Require(Directory.Exists("/boot") && Directory.GetFiles("/boot", "vmlinuz-*-cloud-amd64").Length > 0
            || Environment.GetEnvironmentVariable("STRATA_GUEST_KERNEL") is not null, "no guest kernel for the sandbox (apt-get install linux-image-cloud-amd64)");
        TestEnvironment.Require(TestEnvironment.Which("mkfs.ext4") is not null, "e2fsprogs is missing");

        var a = NewNode("a", "10.241.1.0/24");
        var b = NewNode("b", "10.241.2.0/24");
        Assert.True(a.Census().IsEmpty, a.Census().ToString());
        Assert.True(b.Census().IsEmpty, b.Census().ToString());
        try
        {
            foreach (var node in new[] { a, b })
            {
                await StartAsync(node);
                await PopulateAsync(node);
            }
            foreach (var node in new[] { a, b })
            {
                await AssertWorksAsync(node);
            }

            var aBefore = a.Census();
            var bBefore = b.Census();
            Assert.False(aBefore.IsEmpty);
            Assert.NotEmpty(bBefore.Namespaces);
            Assert.NotEmpty(bBefore.Links);
            Assert.NotEmpty(bBefore.Cgroups);
            Assert.NotEmpty(bBefore.Rules);
            // The two nodes share no host object.
            Assert.Empty(aBefore.Links.Intersect(bBefore.Links));
            Assert.Empty(aBefore.Namespaces.Intersect(bBefore.Namespaces));
            Assert.Empty(aBefore.Cgroups.Intersect(bBefore.Cgroups));
            Assert.Empty(aBefore.Rules.Intersect(bBefore.Rules));
            Assert.Empty(aBefore.Mounts.Intersect(bBefore.Mounts));
            var bChains = bBefore.OwnChains();
            Assert.NotEmpty(bChains);

            await RemoveAsync(b);

            // B has nothing left; A has exactly what it had, and it still works.
            Assert.True(await TestEnvironment.EventuallyAsync(() => b.Census().IsEmpty, TimeSpan.FromSeconds(20)), b.Census().ToString());
            Assert.Empty(bChains.Intersect(NodeCensus.ExistingChains()));
            var aAfter = a.Census();
            Assert.Equal(aBefore.Links.Order(), aAfter.Links.Order());
            Assert.Equal(aBefore.Namespaces.Order(), aAfter.Namespaces.Order());
            Assert.Equal(aBefore.Cgroups.Order(), aAfter.Cgroups.Order());
            Assert.Equal(aBefore.Rules.Order(), aAfter.Rules.Order());
            Assert.Equal(aBefore.Mounts.Order(), aAfter.Mounts.Order());
            Assert.Equal(aBefore.Processes.Order(), aAfter.Processes.Order());
            Assert.All((await a.Client!.ListAsync()).Items, i => Assert.Equal("running", i.State));
            await AssertWorksAsync(a);

            var aChains = aAfter.OwnChains();
            await RemoveAsync(a);
            Assert.True(await TestEnvironment.EventuallyAsync(() => a.Census().IsEmpty, TimeSpan.FromSeconds(20)), a.Census().ToString());
            Assert.Empty(aChains.Intersect(NodeCensus.ExistingChains()));
            Assert.True(b.Census().IsEmpty, b.Census().ToString());
        }
        finally
        {
            foreach (var node in new[] { a, b })
            {
                await CleanUpAsync(node);
            }
        }
    }

    private Node NewNode(string label, string subnet)
    {
        var name = $"nt{s_tag}-{label}";
        return new Node(label, new NodeScope(name), Path.Combine(fx.Root, "node-" + label), Path.Combine(fx.Root, label + ".sock"), subnet, NetworkCensus.FreePort());
    }

    private async Task StartAsync(Node node)
    {
        node.Daemon = await PublishedDaemon.StartAsync(node.Socket,
        [
            "--root", node.Root, "--socket", node.Socket, "--node", node.Scope.Name, "--no-docker-socket",
            "--image", $"busybox={fx.Rootfs}", "--supervisor", fx.Supervisor!,
        ]);
        node.Client = new StrataClient(new ClientOptions { Socket = node.Socket });
    }

    /// <summary>A network with a container publishing a port, a sandbox serving on the network, and an idle container.</summary>
    private static async Task PopulateAsync(Node node)
    {
        var client = node.Client!;
        var network = await client.CreateNetworkAsync(new CreateNetworkRequest { Name = "apps", Subnet = node.Subnet });
        Assert.StartsWith(node.Scope.BridgePrefix, network.Bridge, StringComparison.Ordinal);
        await client.CreateAsync(new InstanceSpec
        {
            Tier = "container", Image = "busybox", Name = "web", Network = "apps",
            Ports = [PortSpec.Parse($"127.0.0.1:{node.Port.ToString(CultureInfo.InvariantCulture)}:80")],
            Args = ["sh", "-c", $"mkdir -p /w && echo web-{node.Label} > /w/index.html && exec httpd -f -p 80 -h /w"],
        });
        await client.CreateAsync(new InstanceSpec
        {
            Tier = "sandbox", Image = "busybox", Name = "sb", Network = "apps",
            Args = ["sh", "-c", $"mkdir -p /w && echo sb-{node.Label} > /w/index.html && exec httpd -f -p 80 -h /w"],
        });
        await client.CreateAsync(new InstanceSpec { Tier = "container", Image = "busybox", Name = "idle", Network = "apps", Args = ["sleep", "3600"] });
    }

    /// <summary>A member reaches the container and the sandbox by name, and the host reaches the published port.</summary>
    private static async Task AssertWorksAsync(Node node)
    {
        var output = new StringBuilder();
        int? code = null;
        await foreach (var frame in node.Client!.RunAttachedAsync(new InstanceSpec
        {
            Tier = "container", Image = "busybox", Name = "caller", Network = "apps", AutoRemove = true,
            Args = ["sh", "-c", "for h in web sb; do i=0; until wget -q -O - http://$h/; do i=$((i+1)); [ $i -ge 200 ] && exit 1; sleep 0.5; done; done"],
        }))
        {
            output.Append(frame.Log?.Text);
            code = frame.Exit?.ExitCode ?? code;
        }
        Assert.True(code == 0, $"node {node.Label}: {output}");
        Assert.Contains($"web-{node.Label}", output.ToString(), StringComparison.Ordinal);
        Assert.Contains($"sb-{node.Label}", output.ToString(), StringComparison.Ordinal);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        Assert.Equal($"web-{node.Label}\n", await http.GetStringAsync($"http://127.0.0.1:{node.Port.ToString(CultureInfo.InvariantCulture)}/"));
    }

    /// <summary>Every instance, then the network, then the daemon (SIGTERM: it stops as an operator stops it).</summary>
    private static async Task RemoveAsync(Node node)
    {
        foreach (var instance in (await node.Client!.ListAsync()).Items)
        {
            await node.Client.DeleteAsync(instance.Name, force: true);
        }
        await node.Client.RemoveNetworkAsync("apps");
        await StopAsync(node);
    }

    private static async Task StopAsync(Node node)
    {
        node.Client?.Dispose();
        node.Client = null;
        if (node.Daemon is { } daemon)
        {
            await PublishedDaemon.StopAsync(daemon, TimeSpan.FromSeconds(60), killIfItHangs: false);
            node.Daemon = null;
        }
    }

    /// <summary>After a failure: whatever is left of the node goes.</summary>
    private static async Task CleanUpAsync(Node node)
    {
        if (node.Client is null)
        {
            return;
        }
        try
        {
            await RemoveAsync(node);
        }
        catch (Exception e) when (e is StrataApiException or HttpRequestException or IOException)
        {
            await StopAsync(node);
        }
    }
}
