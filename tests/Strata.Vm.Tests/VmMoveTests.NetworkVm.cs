using System.Globalization;
using System.Text.Json;
using Strata.Client;
using Strata.Contracts;
using Strata.Node;
using Strata.Testing;

namespace Strata.Vm.Tests;

/// <summary>
/// A live move of a VM (an OCI boot: Strata's init reads the names disk) on a network with a published port: the
/// target's network has another subnet, so the guest must take a new address there; the page answering on the same
/// host port through the target's DNAT (to the new address only) shows it did.
/// </summary>
public sealed partial class VmMoveTests
{
    private const string NetVmName = "m31-vm";
    private const string NetVmNetwork = "m31vmnet";

    [SkippableFact]
    public async Task Move_NetworkedVmWithPublishedPort_TakesTheTargetsAddressAndAnswersThere()
    {
        VmDaemon.RequireBinaries();
        var source = daemons.SourceClient;
        var target = daemons.TargetClient;
        var third = Random.Shared.Next(40, 250).ToString(CultureInfo.InvariantCulture);
        var targetPrefix = $"10.245.{third}.";
        var hostPort = NetworkCensus.FreePort();
        await source.BuildBaseImageAsync("busybox");
        await source.CreateNetworkAsync(new CreateNetworkRequest { Name = NetVmNetwork, Subnet = $"10.244.{third}.0/24" });
        await target.CreateNetworkAsync(new CreateNetworkRequest { Name = NetVmNetwork, Subnet = targetPrefix + "0/24" });
        try
        {
            await source.CreateAsync(new InstanceSpec
            {
                Name = NetVmName, Tier = "vm", Image = "busybox:latest", Network = NetVmNetwork, Resources = new ResourceSpec { MemoryBytes = 256L * 1024 * 1024 },
                Ports = [new PortSpec { HostIp = "127.0.0.1", HostPort = hostPort, ContainerPort = 80 }],
                Args = ["sh", "-c", "mkdir -p /www; echo m31-vm-page > /www/index.html; httpd -p 80 -h /www; i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.1; done"],
            });
            var before = await source.GetAsync(NetVmName);
            var oldAddress = before.Details!["address"];
            var sourceTap = Path.Combine("/sys/class/net", new NodeScope(daemons.SourceNode).TapPrefix + before.Id[..8]);
            Assert.True(await EventuallyAsync(async () => GuestTicks.Last(await LogsAsync(source, NetVmName)) >= 3, TimeSpan.FromSeconds(180)), "the VM never counted");
            Assert.True(await EventuallyAsync(async () => await PageAsync(hostPort) == "m31-vm-page", TimeSpan.FromSeconds(60)), "the published port never answered on the source");

            var lastOnSource = GuestTicks.Last(await LogsAsync(source, NetVmName));
            var (code, stdout, stderr) = daemons.Cli("move", NetVmName, "--to-address", daemons.TargetAddress, "--to-token", daemons.TargetToken, "--json");
            Assert.True(code == 0, $"strata move exited {code}: {stderr}\n{stdout}");
            Assert.Equal(OperationStatusNames.Succeeded, JsonSerializer.Deserialize(stdout, StrataJsonContext.Default.OperationInfo)!.Status);

            var moved = await target.GetAsync(NetVmName);
            Assert.Equal(before.Id, moved.Id);
            var newAddress = moved.Details!["address"];
            Assert.StartsWith(targetPrefix, newAddress, StringComparison.Ordinal);
            Assert.True(await EventuallyAsync(async () => GuestTicks.Last(await LogsAsync(target, NetVmName)) >= lastOnSource + 10, TimeSpan.FromSeconds(120)),
                "the VM's workload did not count on after the move");
            Assert.True(GuestTicks.All(await LogsAsync(target, NetVmName))[0] > lastOnSource, "the counter restarted on the target");
            // The target's DNAT leads to the new address only: the page answers once the guest took it.
            Assert.True(await EventuallyAsync(async () => await PageAsync(hostPort) == "m31-vm-page", TimeSpan.FromSeconds(60)), "the published port does not answer after the move");
            Assert.Contains((await target.InspectNetworkAsync(NetVmNetwork)).Members, m => m.Address == newAddress);

            await AssertSourceKeepsNothingAsync(NetVmName, before.Pid!.Value, sourceTap, oldAddress, before.Id);
        }
        finally
        {
            await DeleteQuietlyAsync(source, NetVmName);
            await DeleteQuietlyAsync(target, NetVmName);
            await RemoveNetworkQuietlyAsync(source, NetVmNetwork);
            await RemoveNetworkQuietlyAsync(target, NetVmNetwork);
        }
    }
}
