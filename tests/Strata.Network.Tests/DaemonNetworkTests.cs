using System.Text;
using Microsoft.Extensions.Logging;
using Strata.Client;
using Strata.Contracts;
using Strata.Daemon;

namespace Strata.Network.Tests;

/// <summary>Networks end to end through stratad's REST API and the typed client.</summary>
[Collection(NetworkCollection.Name)]
public sealed class DaemonNetworkTests(NetworkFixture fx)
{
    [SkippableFact]
    public async Task Daemon_NetworkLifecycle_NamesPortsAndRemoval()
    {
        fx.RequireEngine();
        var socket = Path.Combine(fx.Root, "d.sock");
        var root = Path.Combine(fx.Root, "daemon");
        await using var host = await DaemonHost.StartAsync(new DaemonOptions
        {
            Root = root,
            Socket = socket,
            Supervisor = fx.Supervisor,
            Images = new Dictionary<string, string> { ["busybox"] = fx.Rootfs },
            Networks = fx.Options with { StateDirectory = Path.Combine(root, "networks"), DefaultSubnet = "10.234.0.0/24", BridgePrefix = fx.BridgePrefix + "d" },
        }, logging => logging.ClearProviders());
        using var client = new StrataClient(new ClientOptions { Socket = socket });

        var listed = await client.ListNetworksAsync();
        Assert.Contains(listed.Items, n => n.Default && n.Name == "testnet0" && n.Subnet == "10.234.0.0/24");

        var created = await client.CreateNetworkAsync(new CreateNetworkRequest { Name = "apps", Subnet = "10.235.7.0/24" });
        Assert.Equal("10.235.7.1", created.Gateway);
        var dup = await Assert.ThrowsAsync<StrataApiException>(() => client.CreateNetworkAsync(new CreateNetworkRequest { Name = "apps" }));
        Assert.Equal(ErrorKind.Conflict, dup.Kind);
        var overlap = await Assert.ThrowsAsync<StrataApiException>(() => client.CreateNetworkAsync(new CreateNetworkRequest { Name = "apps2", Subnet = "10.235.0.0/16" }));
        Assert.Equal(ErrorKind.Conflict, overlap.Kind);

        await client.CreateAsync(new InstanceSpec
        {
            Tier = "container", Image = "busybox", Name = "api", Network = "apps", Ports = [PortSpec.Parse("127.0.0.1:18090:80")],
            Args = ["sh", "-c", "mkdir -p /w && echo api-ok > /w/index.html && exec httpd -f -p 80 -h /w"],
        });
        var info = await client.InspectNetworkAsync("apps");
        var member = Assert.Single(info.Members);
        Assert.Equal("api", member.Instance);
        Assert.StartsWith("10.235.7.", member.Address, StringComparison.Ordinal);

        // A second member resolves the first by name.
        var output = new StringBuilder();
        int? code = null;
        await foreach (var frame in client.RunAttachedAsync(new InstanceSpec
        {
            Tier = "container", Image = "busybox", Name = "caller", Network = "apps", AutoRemove = true,
            Args = ["sh", "-c", "i=0; while [ $i -lt 50 ]; do wget -q -O - http://api/ && exit 0; i=$((i+1)); sleep 0.1; done; exit 1"],
        }))
        {
            output.Append(frame.Log?.Text);
            code = frame.Exit?.ExitCode ?? code;
        }
        Assert.True(code == 0, output.ToString());
        Assert.Contains("api-ok", output.ToString());

        // From the host, through the published loopback port.
        using (var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) })
        {
            Assert.Equal("api-ok\n", await http.GetStringAsync("http://127.0.0.1:18090/"));
        }

        // Networks are for the container tier only, and say so.
        var wrongTier = await Assert.ThrowsAsync<StrataApiException>(() => client.CreateAsync(new InstanceSpec { Tier = "process", Network = "apps", Command = ["true"] }));
        Assert.Equal(ErrorKind.InvalidArgument, wrongTier.Kind);

        var inUse = await Assert.ThrowsAsync<StrataApiException>(() => client.RemoveNetworkAsync("apps"));
        Assert.Equal(ErrorKind.Conflict, inUse.Kind);
        await client.DeleteAsync("api", force: true);
        await client.RemoveNetworkAsync("apps");
        Assert.DoesNotContain((await client.ListNetworksAsync()).Items, n => n.Name == "apps");
        var gone = await Assert.ThrowsAsync<StrataApiException>(() => client.InspectNetworkAsync("apps"));
        Assert.Equal(ErrorKind.NotFound, gone.Kind);
    }
}
