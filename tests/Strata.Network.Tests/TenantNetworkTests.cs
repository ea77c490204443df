using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;
using Strata.Client;
using Strata.Contracts;
using Strata.Daemon;
using Strata.Testing;

namespace Strata.Network.Tests;

/// <summary>
/// Tenant projects on one host's bridges, through stratad with project tokens over TCP and real containers:
/// a port conflict does not name another project's instance, a tenant cannot publish on another project's gateway,
/// and a tenant network's members do not reach services on the host's own addresses (every bridge gateway) unless
/// a host administrator allowed it; the rules go with the network.
/// </summary>
[Collection(NetworkCollection.Name)]
public sealed class TenantNetworkTests(NetworkFixture fx) : IAsyncLifetime
{
    private static readonly ProjectRestrictions ContainersOnly = new() { AllowedTiers = ["container"] };

    private readonly int _port = NetworkCensus.FreePort();
    private DaemonHost? _host;
    private StrataClient _admin = null!;

    private readonly string _run = Guid.NewGuid().ToString("N")[..6];

    private string DaemonRoot => Path.Combine(fx.Root, "tenant-" + _run);
    private string SocketPath => Path.Combine(fx.Root, $"tenant-{_run}.sock");
    private string Bridges => fx.BridgePrefix + "t";

    public async Task InitializeAsync()
    {
        if (fx.MissingReason is not null)
        {
            return;
        }
        _host = await DaemonHost.StartAsync(new DaemonOptions
        {
            Root = DaemonRoot,
            Socket = SocketPath,
            Listen = new IPEndPoint(IPAddress.Loopback, _port),
            Supervisor = fx.Supervisor,
            Images = new Dictionary<string, string> { ["busybox"] = fx.Rootfs },
            Networks = fx.Options with
            {
                StateDirectory = Path.Combine(DaemonRoot, "networks"),
                DefaultSubnet = "10.236.0.0/24",
                SubnetPool = "10.237.0.0/16",
                BridgePrefix = Bridges,
                NamespacePrefix = fx.NamespacePrefix + "t",
            },
        }, logging => logging.ClearProviders());
        _admin = new StrataClient(new ClientOptions { Socket = SocketPath });
        await _admin.CreateProjectAsync(new CreateProjectRequest { Name = "a", Restrictions = ContainersOnly });
        await _admin.CreateProjectAsync(new CreateProjectRequest { Name = "b", Restrictions = ContainersOnly });
    }

    public async Task DisposeAsync()
    {
        if (_host is null)
        {
            return;
        }
        foreach (var project in new[] { "default", "a", "b" })
        {
            using var admin = new StrataClient(new ClientOptions { Socket = SocketPath, Project = project });
            foreach (var i in (await admin.ListAsync()).Items)
            {
                await admin.DeleteAsync(i.Name, force: true);
            }
            foreach (var n in (await admin.ListNetworksAsync()).Items)
            {
                await admin.RemoveNetworkAsync(n.Name);
            }
        }
        _admin.Dispose();
        await _host.DisposeAsync();
    }

    private async Task<StrataClient> OperatorAsync(string project) =>
        new(new ClientOptions { Host = new Uri($"http://127.0.0.1:{_port}"), Token = (await _admin.CreateTokenAsync(project, ProjectRoles.Operator)).Token });

    private static InstanceSpec Sleeper(string name, string network, params string[] ports) => new()
    {
        Tier = "container", Image = "busybox", Name = name, Network = network, Args = ["sleep", "600"],
        Ports = ports.Length == 0 ? null : [.. ports.Select(p => PortSpec.Parse(p))],
    };

    /// <summary>Runs a container to its end on <paramref name="network"/>; its exit code and output.</summary>
    private static async Task<(int? Code, string Output)> RunAsync(StrataClient client, string network, string script)
    {
        var output = new StringBuilder();
        int? code = null;
        await foreach (var frame in client.RunAttachedAsync(new InstanceSpec
        {
            Tier = "container", Image = "busybox", Network = network, AutoRemove = true, Args = ["sh", "-c", script],
        }))
        {
            output.Append(frame.Log?.Text);
            code = frame.Exit?.ExitCode ?? code;
        }
        return (code, output.ToString());
    }

    /// <summary>Whether a member of <paramref name="network"/> gets the host listener's greeting from <paramref name="address"/>.</summary>
    private static async Task<string> ProbeAsync(StrataClient client, string network, string address, int port)
    {
        var (_, output) = await RunAsync(client, network, $"sleep 1 | timeout 5 nc -w 3 {address} {port} | grep -q host-ok && echo reached || echo blocked");
        return output.Contains("reached", StringComparison.Ordinal) ? "reached" : output.Contains("blocked", StringComparison.Ordinal) ? "blocked" : output;
    }

    [SkippableFact]
    public async Task PortConflict_WithAnotherProjectsInstance_DoesNotNameIt()
    {
        fx.RequireEngine();
        using var a = await OperatorAsync("a");
        using var b = await OperatorAsync("b");
        await a.CreateNetworkAsync(new CreateNetworkRequest { Name = "anet" });
        await b.CreateNetworkAsync(new CreateNetworkRequest { Name = "bnet" });
        var port = NetworkCensus.FreePort();
        await b.CreateAsync(Sleeper("bsecretweb", "bnet", $"127.0.0.1:{port}:80"));

        var theirs = await Assert.ThrowsAsync<StrataApiException>(() => a.CreateAsync(Sleeper("mine", "anet", $"127.0.0.1:{port}:80")));
        Assert.Equal(409, theirs.Status);
        Assert.Contains("already published", theirs.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("bsecretweb", theirs.Message, StringComparison.Ordinal);
        Assert.Empty((await a.ListAsync()).Items);

        // Within its own project the name helps, and is given.
        var own = await Assert.ThrowsAsync<StrataApiException>(() => b.CreateAsync(Sleeper("second", "bnet", $"127.0.0.1:{port}:80")));
        Assert.Contains("instance 'bsecretweb'", own.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task TenantMembers_DoNotReachTheHost_ThroughAnyGateway_UnlessAllowed_AndTheRulesGoWithTheNetwork()
    {
        fx.RequireEngine();
        using var a = await OperatorAsync("a");
        using var b = await OperatorAsync("b");
        using var adminInB = new StrataClient(new ClientOptions { Socket = SocketPath, Project = "b" });

        // A service on the host, on every address.
        using var listener = new TcpListener(IPAddress.Any, 0);
        listener.Start();
        var hostPort = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var stop = new CancellationTokenSource();
        var serving = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                using var client = await listener.AcceptTcpClientAsync(stop.Token);
                await client.GetStream().WriteAsync("host-ok\n"u8.ToArray(), stop.Token);
            }
        });
        try
        {
            var bnet = await b.CreateNetworkAsync(new CreateNetworkRequest { Name = "bnet" });
            var anet = await a.CreateNetworkAsync(new CreateNetworkRequest { Name = "anet" });
            var open = await adminInB.CreateNetworkAsync(new CreateNetworkRequest { Name = "open", AllowHost = true });
            Assert.False(bnet.HostAccess);
            Assert.True(open.HostAccess);
            // The default project's network keeps reaching the host (its bridge and gateway now exist too).
            Assert.Equal("reached", await ProbeAsync(_admin, fx.Options.DefaultNetwork, "10.236.0.1", hostPort));
            await a.CreateAsync(Sleeper("asleeper", "anet")); // A's bridge and gateway exist
            var rules = NetworkCensus.RuleText("filter");
            Assert.Contains($"-A INPUT -i {anet.Bridge} ", rules, StringComparison.Ordinal);

            // B's member reaches the host through no gateway: its own, A's, the default network's.
            Assert.Equal("blocked", await ProbeAsync(b, "bnet", bnet.Gateway, hostPort));
            Assert.Equal("blocked", await ProbeAsync(b, "bnet", anet.Gateway, hostPort));
            Assert.Equal("blocked", await ProbeAsync(b, "bnet", "10.236.0.1", hostPort));
            // A network a host administrator opened does.
            Assert.Equal("reached", await ProbeAsync(b, "open", open.Gateway, hostPort));

            // Publishing on A's gateway is refused in the words used for an address the host does not have.
            var foreign = await Assert.ThrowsAsync<StrataApiException>(() => b.CreateAsync(Sleeper("pub", "bnet", $"{anet.Gateway}:{NetworkCensus.FreePort()}:80")));
            var absent = await Assert.ThrowsAsync<StrataApiException>(() => b.CreateAsync(Sleeper("pub", "bnet", $"10.239.255.254:{NetworkCensus.FreePort()}:80")));
            Assert.Equal(400, foreign.Status);
            Assert.Equal(absent.Message.Replace("10.239.255.254", anet.Gateway, StringComparison.Ordinal), foreign.Message);
            Assert.Equal(400, (await Assert.ThrowsAsync<StrataApiException>(() => b.CreateAsync(Sleeper("pub", "bnet", $"10.236.0.1:{NetworkCensus.FreePort()}:80")))).Status);
            // Its own gateway is B's to publish on.
            await b.CreateAsync(Sleeper("pub", "bnet", $"{bnet.Gateway}:{NetworkCensus.FreePort()}:80"));
            await b.DeleteAsync("pub", force: true);

            // Removing the networks removes their rules.
            await a.DeleteAsync("asleeper", force: true);
            await a.RemoveNetworkAsync("anet");
            await b.RemoveNetworkAsync("bnet");
            await adminInB.RemoveNetworkAsync("open");
            await _admin.RemoveNetworkAsync(fx.Options.DefaultNetwork);
            foreach (var tool in new[] { "iptables", "ip6tables" })
            {
                var text = NetworkCensus.RuleText("filter", tool);
                Assert.DoesNotContain(anet.Bridge + " ", text, StringComparison.Ordinal);
                Assert.DoesNotContain(bnet.Bridge + " ", text, StringComparison.Ordinal);
                Assert.DoesNotContain("STRATA-HOST-" + Bridges, text, StringComparison.Ordinal);
            }
        }
        finally
        {
            await stop.CancelAsync();
            listener.Stop();
            await Task.WhenAny(serving, Task.Delay(1000));
        }
    }
}
