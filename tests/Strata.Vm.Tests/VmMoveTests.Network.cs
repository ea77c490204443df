using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Strata.Client;
using Strata.Contracts;
using Strata.Node;
using Strata.Testing;

namespace Strata.Vm.Tests;

/// <summary>
/// A live move of a sandbox on a network with a published port (docs/move.md, "Networked VMs and sandboxes"): refused
/// while the target lacks the network (both sides unchanged), then moved: the port answers through the target, the
/// guest counts on, has an address of the target's subnet, reaches the target's bridge and resolves its own name there,
/// and the source keeps no tap, lease or rule of it.
/// </summary>
public sealed partial class VmMoveTests
{
    private const string NetSandboxName = "m31-sbx";
    private const string NetName = "m31net";

    [SkippableFact]
    public async Task Move_NetworkedSandboxWithPublishedPort_RefusedWithoutTheNetwork_ThenMovesAndAnswersOnTheTarget()
    {
        VmDaemon.RequireBinaries();
        var source = daemons.SourceClient;
        var target = daemons.TargetClient;
        var third = Random.Shared.Next(40, 250);
        var sourceSubnet = $"10.242.{third.ToString(CultureInfo.InvariantCulture)}.0/24";
        var targetSubnet = $"10.243.{third.ToString(CultureInfo.InvariantCulture)}.0/24";
        var targetGateway = $"10.243.{third.ToString(CultureInfo.InvariantCulture)}.1";
        var hostPort = NetworkCensus.FreePort();
        var sourceScope = new NodeScope(daemons.SourceNode);
        await source.BuildBaseImageAsync("busybox");
        await source.CreateNetworkAsync(new CreateNetworkRequest { Name = NetName, Subnet = sourceSubnet });
        try
        {
            await source.CreateAsync(new InstanceSpec
            {
                Name = NetSandboxName, Tier = "sandbox", Image = "busybox:latest", Network = NetName,
                Ports = [new PortSpec { HostIp = "127.0.0.1", HostPort = hostPort, ContainerPort = 80 }],
                Args = ["sh", "-c", "mkdir -p /www; echo m31-page > /www/index.html; httpd -p 80 -h /www; i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.1; done"],
            });
            var before = await source.GetAsync(NetSandboxName);
            var sourcePid = before.Pid!.Value;
            var oldAddress = before.Details!["address"];
            Assert.StartsWith(sourceSubnet[..^4], oldAddress, StringComparison.Ordinal);
            var sourceTap = Path.Combine("/sys/class/net", sourceScope.TapPrefix + before.Id[..8]);
            Assert.True(Directory.Exists(sourceTap), $"the sandbox has no tap {sourceTap} on the source");
            Assert.True(await EventuallyAsync(async () => GuestTicks.Last(await LogsAsync(source, NetSandboxName)) >= 3, TimeSpan.FromSeconds(120)), "the sandbox never counted");
            Assert.True(await EventuallyAsync(async () => await PageAsync(hostPort) == "m31-page", TimeSpan.FromSeconds(60)), "the published port never answered on the source");

            // A second project's token neither sees nor moves it.
            await source.CreateProjectAsync(new CreateProjectRequest { Name = "m31other" });
            using (var other = new StrataClient(new ClientOptions { Socket = daemons.SourceSocket, Token = (await source.CreateTokenAsync("m31other", "admin")).Token! }))
            {
                Assert.DoesNotContain((await other.ListAsync()).Items, i => i.Name == NetSandboxName);
                Assert.Equal(ErrorKind.NotFound, (await Assert.ThrowsAsync<StrataApiException>(() =>
                    other.MoveAsync(NetSandboxName, new MoveRequest { ToAddress = daemons.TargetAddress, ToToken = daemons.TargetToken }))).Kind);
            }

            // The target lacks the network: refused with its name and the fix, nothing made there, the sandbox runs on here.
            var refused = await WaitAsync(await source.MoveAsync(NetSandboxName, new MoveRequest { ToAddress = daemons.TargetAddress, ToToken = daemons.TargetToken }));
            Assert.Equal(OperationStatusNames.Failed, refused.Status);
            Assert.Contains($"no network '{NetName}'", refused.Error!.Detail, StringComparison.Ordinal);
            Assert.Contains($"strata network create {NetName}", refused.Error.Detail, StringComparison.Ordinal);
            Assert.Equal(ErrorKind.NotFound, (await Assert.ThrowsAsync<StrataApiException>(() => target.GetAsync(NetSandboxName))).Kind);
            Assert.False(Directory.Exists(Path.Combine(daemons.TargetRoot, "instances", before.Id)), "the refused move left a directory on the target");
            Assert.DoesNotContain(before.Id[..8], string.Join(' ', Directory.GetFileSystemEntries("/sys/class/net").Where(d => d != sourceTap)));
            var still = await source.GetAsync(NetSandboxName);
            Assert.Equal("running", still.State);
            Assert.Equal(sourcePid, still.Pid!.Value);
            Assert.Equal(oldAddress, still.Details!["address"]);
            Assert.Equal("m31-page", await PageAsync(hostPort));

            // With the network there (another subnet: both nodes share this host), the move goes through.
            await target.CreateNetworkAsync(new CreateNetworkRequest { Name = NetName, Subnet = targetSubnet });

            // Cancelled while RAM is sent (a 1 MiB/s link): what the target made for it (tap, lease, rules) is given back,
            // and the sandbox runs on here with its address and port.
            var targetTap = Path.Combine("/sys/class/net", new NodeScope(daemons.TargetNode).TapPrefix + before.Id[..8]);
            var slow = await source.MoveAsync(NetSandboxName, new MoveRequest { ToAddress = daemons.TargetAddress, ToToken = daemons.TargetToken, Bandwidth = "1M" });
            Assert.True(await EventuallyAsync(async () => (await source.GetOperationAsync(slow.Id)).Progress.Items.Any(i => i.Current > 0), TimeSpan.FromSeconds(120)),
                "the move never started sending");
            Assert.True(Directory.Exists(targetTap), $"the target made no tap {targetTap} for the incoming sandbox");
            Assert.Equal(OperationStatusNames.Cancelled, (await source.CancelOperationAsync(slow.Id)).Status);
            Assert.True(await TestEnvironment.EventuallyAsync(() => !Directory.Exists(targetTap), TimeSpan.FromSeconds(30)), $"the cancelled move left the target's tap {targetTap}");
            Assert.True(await EventuallyAsync(async () => (await target.InspectNetworkAsync(NetName)).Members.Count == 0, TimeSpan.FromSeconds(30)),
                "the cancelled move left a member on the target's network");
            var targetIpam = Path.Combine(daemons.TargetRoot, "networks", "ipam");
            Assert.Empty(Directory.Exists(targetIpam) ? Directory.GetFiles(targetIpam, targetSubnet[..^4] + "*", SearchOption.AllDirectories) : []);
            var targetCni = new NodeScope(daemons.TargetNode).CniNamePrefix;
            Assert.DoesNotContain(NetworkCensus.RuleText("nat").Split('\n'), l => l.Contains(before.Id, StringComparison.Ordinal) && l.Contains(targetCni, StringComparison.Ordinal));
            Assert.Equal(sourcePid, (await source.GetAsync(NetSandboxName)).Pid!.Value);
            Assert.True(Directory.Exists(sourceTap), "the cancelled move took the source's tap");
            Assert.True(await EventuallyAsync(async () => await PageAsync(hostPort) == "m31-page", TimeSpan.FromSeconds(30)), "the port stopped answering on the source after the cancelled move");
            var lastOnSource = GuestTicks.Last(await LogsAsync(source, NetSandboxName));
            var (code, stdout, stderr) = daemons.Cli("move", NetSandboxName, "--to-address", daemons.TargetAddress, "--to-token", daemons.TargetToken, "--json");
            Assert.True(code == 0, $"strata move exited {code}: {stderr}\n{stdout}");
            Assert.Equal(OperationStatusNames.Succeeded, JsonSerializer.Deserialize(stdout, StrataJsonContext.Default.OperationInfo)!.Status);

            var moved = await target.GetAsync(NetSandboxName);
            Assert.Equal(before.Id, moved.Id);
            Assert.Equal("running", moved.State);
            var newAddress = moved.Details!["address"];
            Assert.StartsWith(targetSubnet[..^4], newAddress, StringComparison.Ordinal);
            Assert.True(await EventuallyAsync(async () => GuestTicks.Last(await LogsAsync(target, NetSandboxName)) >= lastOnSource + 10, TimeSpan.FromSeconds(120)),
                "the sandbox's workload did not count on after the move");
            var ticks = GuestTicks.All(await LogsAsync(target, NetSandboxName));
            Assert.True(ticks[0] > lastOnSource, $"the counter restarted on the target: first tick there {ticks[0]}, last on the source at least {lastOnSource}");

            // The guest took the new address (from its names disk), reaches the target's bridge, and resolves itself there.
            string addr = "";
            Assert.True(await EventuallyAsync(async () => (addr = (await InstanceOutput.ExecAsync(target, NetSandboxName, "ip -4 addr show eth0")).Output)
                .Contains(newAddress + "/24", StringComparison.Ordinal), TimeSpan.FromSeconds(60)), $"the guest's eth0 does not hold {newAddress}: {addr}");
            var (pingCode, ping) = await InstanceOutput.ExecAsync(target, NetSandboxName, $"ping -c 1 -W 5 {targetGateway}");
            Assert.True(pingCode == 0, $"the guest cannot reach the target's bridge {targetGateway}: {ping}");
            var (_, hosts) = await InstanceOutput.ExecAsync(target, NetSandboxName, "cat /etc/hosts");
            Assert.Contains($"{newAddress}\t{NetSandboxName}", hosts, StringComparison.Ordinal);
            // The published port answers through the target's rules (the source's pointed at the old address, now gone).
            Assert.True(await EventuallyAsync(async () => await PageAsync(hostPort) == "m31-page", TimeSpan.FromSeconds(60)), "the published port does not answer after the move");
            var inspected = await target.InspectNetworkAsync(NetName);
            Assert.Contains(inspected.Members, m => (m.Instance == NetSandboxName || m.Instance == before.Id) && m.Address == newAddress);

            // A second project on the target sees none of it.
            await target.CreateProjectAsync(new CreateProjectRequest { Name = "m31other" });
            using (var other = new StrataClient(new ClientOptions { Socket = daemons.TargetSocket, Token = (await target.CreateTokenAsync("m31other", "admin")).Token! }))
            {
                Assert.DoesNotContain((await other.ListAsync()).Items, i => i.Name == NetSandboxName);
                Assert.Equal(ErrorKind.NotFound, (await Assert.ThrowsAsync<StrataApiException>(() => other.GetAsync(NetSandboxName))).Kind);
            }

            await AssertSourceKeepsNothingAsync(NetSandboxName, sourcePid, sourceTap, oldAddress, before.Id);
        }
        finally
        {
            await DeleteQuietlyAsync(source, NetSandboxName);
            await DeleteQuietlyAsync(target, NetSandboxName);
            await RemoveNetworkQuietlyAsync(source, NetName);
            await RemoveNetworkQuietlyAsync(target, NetName);
        }
    }

    /// <summary>The source keeps nothing of a moved networked guest: no record, no QEMU, no tap, no lease, no rule naming its old address or its id.</summary>
    private async Task AssertSourceKeepsNothingAsync(string name, int sourcePid, string sourceTap, string oldAddress, string id)
    {
        Assert.Equal(ErrorKind.NotFound, (await Assert.ThrowsAsync<StrataApiException>(() => daemons.SourceClient.GetAsync(name))).Kind);
        Assert.True(await TestEnvironment.EventuallyAsync(() => !Directory.Exists($"/proc/{sourcePid.ToString(CultureInfo.InvariantCulture)}"), TimeSpan.FromSeconds(30)),
            "the source QEMU still runs");
        Assert.False(Directory.Exists(sourceTap), $"the source's tap {sourceTap} is left");
        var sourceIpam = Path.Combine(daemons.SourceRoot, "networks", "ipam");
        Assert.Empty(Directory.Exists(sourceIpam) ? Directory.GetFiles(sourceIpam, oldAddress, SearchOption.AllDirectories) : []);
        var oldRule = new Regex(Regex.Escape(oldAddress) + "(?![0-9])");
        var sourceCni = new NodeScope(daemons.SourceNode).CniNamePrefix;
        foreach (var table in new[] { "nat", "filter" })
        {
            var left = NetworkCensus.RuleText(table).Split('\n').Where(l => oldRule.IsMatch(l)
                || (l.Contains(id, StringComparison.Ordinal) && l.Contains(sourceCni, StringComparison.Ordinal))).ToList();
            Assert.True(left.Count == 0, $"the source left {table} rules of the moved {name}:\n{string.Join('\n', left)}");
        }
    }

    private static async Task<string> PageAsync(int port)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            return (await http.GetStringAsync($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}/")).Trim();
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return "";
        }
    }

    private static async Task RemoveNetworkQuietlyAsync(StrataClient client, string name)
    {
        try
        {
            await client.RemoveNetworkAsync(name);
        }
        catch (Exception e) when (e is StrataApiException or HttpRequestException or DaemonUnreachableException)
        {
            // not there, or its daemon is down (the test's failure says why)
        }
    }
}
