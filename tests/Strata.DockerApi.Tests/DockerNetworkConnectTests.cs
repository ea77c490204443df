using Microsoft.Extensions.DependencyInjection;
using Strata.Client;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Control.Projects;
using Strata.Testing;

namespace Strata.DockerApi.Tests;

/// <summary>
/// <c>docker network connect</c> and <c>disconnect</c> on running and created containers, driven by both docker CLIs
/// on this host (28.x and Debian's 20.10), with traffic checked for real; the tenant's socket and a tenant token
/// touch nothing of the default project; Strata's own endpoint; a tier that cannot is a clear error.
/// </summary>
[Collection(DockerCollection.Name)]
public sealed class DockerNetworkConnectTests(DockerFixture fx)
{
    public static TheoryData<string> Clis => ["/usr/local/bin/docker", "/usr/bin/docker"];

    private void RequireCli(string cli)
    {
        fx.RequireEngine();
        Skip.If(!File.Exists(cli) && !TestEnvironment.IsCi, $"{cli} is not installed here");
    }

    /// <summary>Fetches a page, retried a few times; each try is cut short by <c>timeout</c> (busybox's <c>wget -T</c> crashes).</summary>
    private static string Fetch(string target, int attempts) =>
        $"sh -c 'for i in $(seq {attempts}); do timeout 2 wget -qO- http://{target}/ && exit 0; sleep 0.3; done; exit 1'";

    private static string Server(string name, string network) =>
        $"run -d --name {name} --network {network} busybox sh -c 'mkdir -p /w && echo from-{name} > /w/index.html && exec httpd -f -p 80 -h /w'";

    [SkippableTheory]
    [MemberData(nameof(Clis))]
    public async Task Connect_RunningAndCreatedContainers_ReachTheNetwork_UntilDisconnected(string cli)
    {
        RequireCli(cli);
        var tag = cli.Contains("local", StringComparison.Ordinal) ? "28" : "20";
        var front = "n23-" + fx.Name("fr" + tag);
        var back = "n23-" + fx.Name("bk" + tag);
        var theirs = "n23-" + fx.Name("tn" + tag);
        var web = "n23-" + fx.Name("web" + tag);
        var client = "n23-" + fx.Name("cl" + tag);
        var late = "n23-" + fx.Name("lt" + tag);
        await fx.OkAsync($"network create {front}", docker: cli);
        await fx.OkAsync($"network create {back}", docker: cli);
        try
        {
            await fx.OkAsync(Server(web, back), docker: cli);
            await fx.OkAsync($"run -d --name {client} --network {front} busybox sleep 600", docker: cli);
            await fx.OkAsync($"create --name {late} --network {front} busybox {Fetch(web, 20)}", docker: cli);

            // Before: another network, so the server is out of reach.
            Assert.NotEqual(0, (await fx.RunAsync($"exec {client} {Fetch(web, 1)}", docker: cli)).Code);

            // The tenant's socket sees neither the network nor the container, and changes nothing.
            var (code, _, err) = await fx.RunAsync($"network connect {back} {client}", fx.TenantSocket, docker: cli);
            Assert.NotEqual(0, code);
            Assert.Contains("not found", err);
            await fx.OkAsync($"network create {theirs}", fx.TenantSocket, docker: cli);
            try
            {
                (code, _, err) = await fx.RunAsync($"network connect {theirs} {client}", fx.TenantSocket, docker: cli);
                Assert.NotEqual(0, code);
                Assert.Contains("No such container", err);
            }
            finally
            {
                await fx.OkAsync($"network rm {theirs}", fx.TenantSocket, docker: cli);
            }
            Assert.DoesNotContain(fx.Instances.Get("default", client).Handle!.Data.Keys, k => k == INetworkConnectDriver.ConnectedKey);

            // A running container joins with an alias: it reaches the server by name, the server reaches it by both.
            await fx.OkAsync($"network connect --alias n23-alias{tag} {back} {client}", docker: cli);
            Assert.Equal($"from-{web}\n", await fx.OkAsync($"exec {client} {Fetch(web, 20)}", docker: cli));
            var hosts = await fx.OkAsync($"exec {web} cat /etc/hosts", docker: cli);
            Assert.Contains($"{client} n23-alias{tag}", hosts);
            var networks = await fx.OkAsync($"inspect -f '{{{{range $k, $v := .NetworkSettings.Networks}}}}{{{{$k}}}}={{{{$v.IPAddress}}}} {{{{end}}}}' {client}", docker: cli);
            Assert.Contains(front + "=10.", networks);
            Assert.Contains(back + "=10.", networks);
            Assert.Contains(client, await fx.OkAsync($"network inspect -f '{{{{range .Containers}}}}{{{{.Name}}}} {{{{end}}}}' {back}", docker: cli));
            (code, _, err) = await fx.RunAsync($"network connect {back} {client}", docker: cli);
            Assert.NotEqual(0, code);
            Assert.Contains("already connected", err);

            // A created container joins before its first start, and its command reaches the server by name.
            await fx.OkAsync($"network connect {back} {late}", docker: cli);
            Assert.Equal($"from-{web}\n", await fx.OkAsync($"start -a {late}", docker: cli));

            // A restart keeps the network.
            await fx.OkAsync($"restart -t 0 {client}", docker: cli);
            Assert.Equal($"from-{web}\n", await fx.OkAsync($"exec {client} {Fetch(web, 20)}", docker: cli));

            // The tenant cannot take it off either.
            (code, _, err) = await fx.RunAsync($"network disconnect {back} {client}", fx.TenantSocket, docker: cli);
            Assert.NotEqual(0, code);
            Assert.Contains("not found", err);

            // Disconnected: neither the name nor the address answers; inspect shows the first network only.
            var address = (await fx.OkAsync($"inspect -f '{{{{(index .NetworkSettings.Networks \"{back}\").IPAddress}}}}' {web}", docker: cli)).Trim();
            await fx.OkAsync($"network disconnect {back} {client}", docker: cli);
            Assert.NotEqual(0, (await fx.RunAsync($"exec {client} {Fetch(web, 2)}", docker: cli)).Code);
            Assert.NotEqual(0, (await fx.RunAsync($"exec {client} {Fetch(address, 2)}", docker: cli)).Code);
            Assert.DoesNotContain("eth1", await fx.OkAsync($"exec {client} ls /sys/class/net", docker: cli));
            Assert.DoesNotContain(back, await fx.OkAsync($"inspect -f '{{{{range $k, $v := .NetworkSettings.Networks}}}}{{{{$k}}}} {{{{end}}}}' {client}", docker: cli));
            Assert.DoesNotContain(client, await fx.OkAsync($"exec {web} cat /etc/hosts", docker: cli));

            // The network a container was created on stays until it is removed.
            (code, _, err) = await fx.RunAsync($"network disconnect {front} {client}", docker: cli);
            Assert.NotEqual(0, code);
            Assert.Contains("created on", err);

            // A network with a member joined later is in use; removing the member frees it.
            await fx.OkAsync($"rm -f {late}", docker: cli);
            await fx.OkAsync($"network connect {back} {client}", docker: cli);
            (code, _, err) = await fx.RunAsync($"network rm {back}", docker: cli);
            Assert.NotEqual(0, code);
            Assert.Contains(client, err);
        }
        finally
        {
            await fx.RunAsync($"rm -f {web} {client} {late}", docker: cli);
            await fx.RunAsync($"network rm {front} {back}", docker: cli);
        }
        Assert.DoesNotContain(back, await fx.OkAsync("network ls --format '{{.Name}}'", docker: cli));
    }

    [SkippableFact]
    public async Task StrataApi_ConnectsOwnInstances_ATenantTokenTouchesNothing()
    {
        fx.RequireEngine();
        var network = "n23-" + fx.Name("api");
        var member = "n23-" + fx.Name("apim");
        await fx.OkAsync($"network create {network}");
        await fx.OkAsync($"create --name {member} --network bridge busybox sleep 600");
        using var admin = new StrataClient(new ClientOptions { Socket = fx.Socket });
        var projects = fx.Services.GetRequiredService<ProjectService>();
        var (_, token) = await projects.CreateTokenAsync("tenant", ProjectRoles.Operator, "n23 connect test", CancellationToken.None);
        using var tenant = new StrataClient(new ClientOptions { Socket = fx.Socket, Token = token });
        try
        {
            var strataNetwork = network; // no '_': the Docker name is the Strata name
            var info = await admin.ConnectNetworkAsync(member, new ConnectNetworkRequest { Network = strataNetwork, Aliases = ["n23-api-alias"] });
            Assert.StartsWith(strataNetwork + "=10.", info.Details![INetworkConnectDriver.ConnectedKey]);
            var onNetwork = (await admin.InspectNetworkAsync(strataNetwork)).Members.Single(m => m.Instance == member);
            Assert.Equal("eth1", onNetwork.Interface);
            Assert.Equal(["n23-api-alias"], onNetwork.Aliases);

            // A tenant's token finds neither the instance nor the network; nothing changes.
            Assert.DoesNotContain((await tenant.ListNetworksAsync()).Items, n => n.Name == strataNetwork);
            var e = await Assert.ThrowsAsync<StrataApiException>(() => tenant.ConnectNetworkAsync(member, new ConnectNetworkRequest { Network = strataNetwork }));
            Assert.True(e.Status == 404, e.Message);
            Assert.Contains("no instance named", e.Message);
            e = await Assert.ThrowsAsync<StrataApiException>(() => tenant.DisconnectNetworkAsync(member, strataNetwork));
            Assert.True(e.Status == 404, e.Message);
            Assert.Single((await admin.InspectNetworkAsync(strataNetwork)).Members, m => m.Instance == member);

            e = await Assert.ThrowsAsync<StrataApiException>(() => admin.ConnectNetworkAsync(member, new ConnectNetworkRequest { Network = "n23-no-such-network" }));
            Assert.True(e.Status == 404, e.Message);
            e = await Assert.ThrowsAsync<StrataApiException>(() => admin.ConnectNetworkAsync(member, new ConnectNetworkRequest { Network = strataNetwork, Aliases = ["Not A Name"] }));
            Assert.True(e.Status == 400, e.Message);

            info = await admin.DisconnectNetworkAsync(member, strataNetwork);
            Assert.False(info.Details!.ContainsKey(INetworkConnectDriver.ConnectedKey));
            Assert.Empty((await admin.InspectNetworkAsync(strataNetwork)).Members);
        }
        finally
        {
            await fx.RunAsync($"rm -f {member}");
            await fx.RunAsync($"network rm {network}");
        }
    }

    [SkippableFact]
    public async Task Connect_OnTheSandboxTier_IsAClearErrorNamingTheTier()
    {
        fx.RequireEngine();
        if (!fx.Instances.Drivers.IsAvailable(Tier.Sandbox))
        {
            var reason = "the sandbox tier is not available here: " + fx.Instances.Drivers.Fingerprint(Tier.Sandbox).Reason;
            Assert.False(TestEnvironment.IsCi, reason);
            Skip.If(true, reason);
        }
        var network = "n23-" + fx.Name("sbn");
        var sandbox = "n23-" + fx.Name("sb");
        await fx.OkAsync($"network create {network}");
        try
        {
            await fx.OkAsync($"create --runtime strata-sandbox --name {sandbox} busybox true");
            var (code, _, err) = await fx.RunAsync($"network connect {network} {sandbox}");
            Assert.NotEqual(0, code);
            Assert.Contains("sandbox tier", err);
            Assert.Contains("--network", err);
            Assert.DoesNotContain(sandbox, await fx.OkAsync($"network inspect -f '{{{{range .Containers}}}}{{{{.Name}}}} {{{{end}}}}' {network}"));
        }
        finally
        {
            await fx.RunAsync($"rm -f {sandbox}");
            await fx.RunAsync($"network rm {network}");
        }
    }
}
