using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Strata.Client;
using Strata.Daemon;
using Strata.Daemon.Cluster;
using Strata.Testing;
using static Microsoft.Playwright.Assertions;

namespace Strata.Dashboard.Tests;

/// <summary>
/// The overview of a clustered daemon: two daemons (fake tier, no host-global resources) joined to a real 3-member
/// etcd on loopback; the page lists the cluster's nodes instead of one host.
/// </summary>
[Collection(DashboardCollection.Name)]
public sealed class DashboardClusterTests(DashboardFixture fx) : IAsyncLifetime
{
    private readonly EtcdCluster _etcd = new();
    private readonly TempDirectory _dir = new("strata-ui-cl");
    private readonly List<DaemonHost> _daemons = [];
    private readonly List<int> _ports = [];
    private bool _etcdStarted;

    public async Task InitializeAsync()
    {
        if (fx.BrowserMissing is not null || TestEnvironment.Which("etcd") is null)
        {
            return; // the test says which is missing
        }
        await _etcd.InitializeAsync();
        _etcdStarted = true;
        // Both nodes hold the one cluster token (0600), as a real cluster's nodes do.
        var tokenFile = _dir.Combine("cluster.token");
        File.WriteAllText(tokenFile, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)));
        File.SetUnixFileMode(tokenFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        foreach (var node in new[] { "ui22-n1", "ui22-n2" })
        {
            _ports.Add(DashboardFixture.FreePort());
            _daemons.Add(await DaemonHost.StartAsync(new DaemonOptions
            {
                Root = _dir.Combine(node),
                Socket = _dir.Combine(node + ".sock"),
                Node = node,
                Listen = new IPEndPoint(IPAddress.Loopback, _ports[^1]),
                EnableFakeTier = true,
                Supervisor = TestEnvironment.Supervisor,
                Cluster = new ClusterDaemonOptions { Etcd = _etcd.ConnectionString, TokenFile = tokenFile, LeaseTtl = TimeSpan.FromSeconds(3), ReplacementGrace = TimeSpan.FromSeconds(3) },
            }, l => l.SetMinimumLevel(LogLevel.Warning)));
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var d in _daemons)
        {
            await d.DisposeAsync();
        }
        if (_etcdStarted)
        {
            await _etcd.DisposeAsync();
        }
        _dir.Dispose();
    }

    [SkippableFact]
    public async Task Overview_OfAClusteredDaemon_ListsEveryNodeOnline_AndSaysWhichOneItIs()
    {
        fx.RequireBrowser();
        TestEnvironment.Require(_etcdStarted, "etcd is not installed (apt-get install etcd-server; scripts/deps/cluster.txt)");
        using (var admin = new StrataClient(new ClientOptions { Socket = _dir.Combine("ui22-n1.sock") }))
        {
            Assert.True(await TestEnvironment.EventuallyAsync(() =>
                JsonDocument.Parse(admin.NodesJsonAsync().GetAwaiter().GetResult()).RootElement.EnumerateArray()
                    .Count(n => n.GetProperty("status").GetString() == "online") == 2, TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(200)),
                "the two nodes did not come online");
        }
        var token = File.ReadAllText(_dir.Combine("ui22-n1", "admin.token")).Trim();
        var page = await fx.SignInAsync(token, $"http://127.0.0.1:{_ports[0]}");
        var nodes = page.Locator("#cluster-nodes table.nodes");
        await Expect(nodes.Locator("tr[data-node='ui22-n1']")).ToHaveAttributeAsync("data-status", "online");
        await Expect(nodes.Locator("tr[data-node='ui22-n2']")).ToHaveAttributeAsync("data-status", "online");
        await Expect(nodes.Locator("tr[data-node='ui22-n1']")).ToContainTextAsync("(this node)");
        await Expect(nodes.Locator("tr[data-node='ui22-n2']")).ToContainTextAsync("fake");
        await Expect(nodes.Locator("caption")).ToContainTextAsync("2 nodes");
        await Expect(page.GetByRole(Microsoft.Playwright.AriaRole.Heading, new() { Name = "This node (ui22-n1)" })).ToBeVisibleAsync();
        await DashboardFixture.ScreenshotAsync(page, "overview-cluster");
        await page.Context.CloseAsync();
    }
}
