using System.Globalization;
using System.Text.Json;
using Strata.Client;
using Strata.Contracts;
using Strata.Testing;

namespace Strata.Vm.Tests;

/// <summary>
/// A sandbox (busybox in a QEMU microvm, started from its image's template) moves live between the same two published
/// daemons as the VM: its workload's counter goes on on the target without a restart, the file it wrote is on the moved
/// disk, exec works there, the source keeps nothing of it, and a second project on the target sees none of it.
/// </summary>
public sealed partial class VmMoveTests
{
    private const string SandboxName = "m20-sbx";

    [SkippableFact]
    public async Task Move_RunningSandbox_MovesLiveAndItsWorkloadCountsOn()
    {
        VmDaemon.RequireBinaries();
        var source = daemons.SourceClient;
        var target = daemons.TargetClient;
        await source.BuildBaseImageAsync("busybox");
        await source.CreateAsync(new InstanceSpec
        {
            Name = SandboxName, Tier = "sandbox", Image = "busybox:latest",
            Args = ["sh", "-c", "echo m20-sbx-data > /m20.txt; sync; i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.1; done"],
        });
        try
        {
            var before = await source.GetAsync(SandboxName);
            var sourcePid = before.Pid!.Value;
            var sourceDir = Path.Combine(daemons.SourceRoot, "instances", before.Id);
            var how = before.Details?.GetValueOrDefault("template") ?? "(none)";
            Assert.True(how.StartsWith("template ", StringComparison.Ordinal), $"the sandbox did not start from its template: {how}");
            Assert.True(await EventuallyAsync(async () => GuestTicks.Last(await LogsAsync(source, SandboxName)) >= 3, TimeSpan.FromSeconds(120)), "the sandbox never counted");

            var lastOnSource = GuestTicks.Last(await LogsAsync(source, SandboxName));
            var (code, stdout, stderr) = daemons.Cli("move", SandboxName, "--to-address", daemons.TargetAddress, "--to-token", daemons.TargetToken, "--json");
            Assert.True(code == 0, $"strata move exited {code}: {stderr}\n{stdout}");
            var op = JsonSerializer.Deserialize(stdout, StrataJsonContext.Default.OperationInfo)!;
            Assert.Equal(OperationStatusNames.Succeeded, op.Status);
            var result = op.Result!.Value.Deserialize(StrataJsonContext.Default.MoveResult)!;
            Assert.Equal("live", result.Mode);
            Assert.Contains("microvm", result.ModeReason ?? "", StringComparison.Ordinal);
            Assert.True(result.RamBytes > 0 && result.DiskBytes > 0, $"RAM {result.RamBytes}, disk {result.DiskBytes}");

            // The target runs it: same id, and the counter goes on from above the source's last value (no restart).
            var moved = await target.GetAsync(SandboxName);
            Assert.Equal(before.Id, moved.Id);
            Assert.Equal("running", moved.State);
            Assert.True(await EventuallyAsync(async () => GuestTicks.Last(await LogsAsync(target, SandboxName)) >= lastOnSource + 10, TimeSpan.FromSeconds(120)),
                $"the sandbox's workload did not count on after the move (last tick on the source {lastOnSource}); target's log:\n{await LogsAsync(target, SandboxName)}\nthe daemons:\n{daemons.OutputTail()}");
            var ticks = GuestTicks.All(await LogsAsync(target, SandboxName));
            Assert.True(ticks[0] > lastOnSource, $"the counter restarted on the target: first tick there {ticks[0]}, last on the source at least {lastOnSource}");
            var (execCode, output) = await InstanceOutput.ExecAsync(target, SandboxName, "cat /m20.txt");
            Assert.Equal(0, execCode);
            Assert.Equal("m20-sbx-data", output);

            // A second project on the target sees none of it.
            await target.CreateProjectAsync(new CreateProjectRequest { Name = "m20sbxother" });
            using (var other = new StrataClient(new ClientOptions { Socket = daemons.TargetSocket, Token = (await target.CreateTokenAsync("m20sbxother", "admin")).Token! }))
            {
                Assert.Empty((await other.ListAsync()).Items);
                Assert.Equal(ErrorKind.NotFound, (await Assert.ThrowsAsync<StrataApiException>(() => other.GetAsync(SandboxName))).Kind);
            }

            // The source forgot it: no record, no QEMU, no files.
            Assert.Equal(ErrorKind.NotFound, (await Assert.ThrowsAsync<StrataApiException>(() => source.GetAsync(SandboxName))).Kind);
            Assert.True(await TestEnvironment.EventuallyAsync(() => !Directory.Exists($"/proc/{sourcePid.ToString(CultureInfo.InvariantCulture)}"), TimeSpan.FromSeconds(30)),
                "the source QEMU still runs");
            Assert.False(Directory.Exists(sourceDir), $"{sourceDir} is left on the source");
            Assert.False(QemuOf(daemons.SourceRoot), "a QEMU of the source's root still runs");

            await target.DeleteAsync(SandboxName, force: true);
            Assert.False(Directory.Exists(Path.Combine(daemons.TargetRoot, "instances", before.Id)));
        }
        finally
        {
            // A failed run leaves the sandbox on neither side: the VM's move test, next on these daemons, expects both empty.
            await DeleteQuietlyAsync(source, SandboxName);
            await DeleteQuietlyAsync(target, SandboxName);
        }
    }

    private static async Task DeleteQuietlyAsync(StrataClient client, string name)
    {
        try
        {
            await client.DeleteAsync(name, force: true);
        }
        catch (Exception e) when (e is StrataApiException or HttpRequestException or DaemonUnreachableException)
        {
            // gone already, or its daemon is down (the test's failure says why)
        }
    }
}
