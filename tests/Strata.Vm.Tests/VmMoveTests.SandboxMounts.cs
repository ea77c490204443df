using System.Globalization;
using System.Text.Json;
using Strata.Client;
using Strata.Contracts;
using Strata.Testing;

namespace Strata.Vm.Tests;

/// <summary>
/// A sandbox with a <c>-v</c> mount (a virtio-fs share, which QEMU cannot migrate) moves cold between the same two
/// published daemons: <c>--live</c> is refused naming why and leaves it running untouched; a move without a mode goes
/// cold and says why; on the target the file its first run wrote on its own disk is there, the host directory is
/// mounted again (read and written through), the workload started again; the source keeps nothing of it; a second
/// project sees none of it. Stopped on the target, it moves back cold by default and arrives created with its disk.
/// </summary>
public sealed partial class VmMoveTests
{
    private const string MountedSandboxName = "m20-sbxv";

    [SkippableFact]
    public async Task Move_SandboxWithMount_RefusesLive_ThenMovesColdWithItsDiskAndMount()
    {
        VmDaemon.RequireBinaries();
        var source = daemons.SourceClient;
        var target = daemons.TargetClient;
        await source.BuildBaseImageAsync("busybox");
        var shared = Directory.CreateTempSubdirectory("m20v-").FullName;
        File.WriteAllText(Path.Combine(shared, "in.txt"), "from-the-host\n");
        // Each run counts its starts on its own disk and prints them: a second run there (on the target) sees the first's mark.
        await source.CreateAsync(new InstanceSpec
        {
            Name = MountedSandboxName, Tier = "sandbox", Image = "busybox:latest",
            Mounts = [new MountSpec { Source = shared, Target = "/data" }],
            Args = ["sh", "-c", "echo run >> /m20v-runs; echo runs $(wc -l < /m20v-runs); cat /data/in.txt; i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done"],
        });
        try
        {
            var before = await source.GetAsync(MountedSandboxName);
            var sourcePid = before.Pid!.Value;
            var sourceDir = Path.Combine(daemons.SourceRoot, "instances", before.Id);
            Assert.True(await EventuallyAsync(async () => GuestTicks.Last(await LogsAsync(source, MountedSandboxName)) >= 2, TimeSpan.FromSeconds(120)),
                "the sandbox never counted: " + await LogsAsync(source, MountedSandboxName));
            Assert.Contains("runs 1", await LogsAsync(source, MountedSandboxName), StringComparison.Ordinal);

            // --live is refused before anything starts, naming virtio-fs and the way out; the sandbox runs on untouched.
            var live = await Assert.ThrowsAsync<StrataApiException>(() => source.MoveAsync(MountedSandboxName,
                new MoveRequest { ToAddress = daemons.TargetAddress, ToToken = daemons.TargetToken, Mode = "live" }));
            Assert.Equal(ErrorKind.InvalidArgument, live.Kind);
            Assert.Contains("virtio-fs", live.Message, StringComparison.Ordinal);
            Assert.Contains("moves cold", live.Message, StringComparison.Ordinal);
            Assert.Equal(sourcePid, (await source.GetAsync(MountedSandboxName)).Pid);
            Assert.Empty((await target.ListAsync()).Items);

            // A second project's token: not there for it, and it cannot move it.
            await source.CreateProjectAsync(new CreateProjectRequest { Name = "m20vother" });
            using (var other = new StrataClient(new ClientOptions { Socket = daemons.SourceSocket, Token = (await source.CreateTokenAsync("m20vother", "admin")).Token! }))
            {
                Assert.Equal(ErrorKind.NotFound, (await Assert.ThrowsAsync<StrataApiException>(() =>
                    other.MoveAsync(MountedSandboxName, new MoveRequest { ToAddress = daemons.TargetAddress, ToToken = daemons.TargetToken }))).Kind);
            }

            // No mode: cold, and the result says why.
            var (code, stdout, stderr) = daemons.Cli("move", MountedSandboxName, "--to-address", daemons.TargetAddress, "--to-token", daemons.TargetToken, "--json");
            Assert.True(code == 0, $"strata move exited {code}: {stderr}\n{stdout}\nthe daemons:\n{daemons.OutputTail()}");
            var op = JsonSerializer.Deserialize(stdout, StrataJsonContext.Default.OperationInfo)!;
            Assert.Equal(OperationStatusNames.Succeeded, op.Status);
            var result = op.Result!.Value.Deserialize(StrataJsonContext.Default.MoveResult)!;
            Assert.Equal("cold", result.Mode);
            Assert.Contains("virtio-fs", result.ModeReason ?? "", StringComparison.Ordinal);
            Assert.Contains("its disk", result.Carried ?? "", StringComparison.Ordinal);
            Assert.True(result.DiskBytes > 0, $"no disk was carried: {result.DiskBytes} bytes");

            // The target runs it (a cold move creates it there afresh, under a new id): its disk came along (the second run sees the first's mark) and the
            // host directory is mounted again, both ways.
            var moved = await target.GetAsync(MountedSandboxName);
            Assert.Equal("running", moved.State);
            // Restored from the target's own template onto the carried disk (its root is mounted after the setup line).
            var how = moved.Details?.GetValueOrDefault("template") ?? "(none)";
            Assert.True(how.StartsWith("template ", StringComparison.Ordinal), $"the moved sandbox did not start from a template: {how}");
            Assert.True(await EventuallyAsync(async () => (await LogsAsync(target, MountedSandboxName)).Contains("runs 2", StringComparison.Ordinal), TimeSpan.FromSeconds(120)),
                $"the moved sandbox's disk lost the first run's mark; target's log:\n{await LogsAsync(target, MountedSandboxName)}\nthe daemons:\n{daemons.OutputTail()}");
            Assert.Contains("from-the-host", await LogsAsync(target, MountedSandboxName), StringComparison.Ordinal);
            var (execCode, output) = await InstanceOutput.ExecAsync(target, MountedSandboxName, "echo from-the-guest > /data/out.txt; cat /m20v-runs | wc -l");
            Assert.Equal(0, execCode);
            Assert.Equal("2", output.Trim());
            Assert.Equal("from-the-guest", File.ReadAllText(Path.Combine(shared, "out.txt")).Trim());

            // A second project on the target sees none of it.
            await target.CreateProjectAsync(new CreateProjectRequest { Name = "m20vother" });
            using (var other = new StrataClient(new ClientOptions { Socket = daemons.TargetSocket, Token = (await target.CreateTokenAsync("m20vother", "admin")).Token! }))
            {
                Assert.Empty((await other.ListAsync()).Items);
                Assert.Equal(ErrorKind.NotFound, (await Assert.ThrowsAsync<StrataApiException>(() => other.GetAsync(MountedSandboxName))).Kind);
            }

            // The source forgot it: no record, no QEMU, no files.
            Assert.Equal(ErrorKind.NotFound, (await Assert.ThrowsAsync<StrataApiException>(() => source.GetAsync(MountedSandboxName))).Kind);
            Assert.False(Directory.Exists($"/proc/{sourcePid.ToString(CultureInfo.InvariantCulture)}"), "the source QEMU still runs");
            Assert.False(Directory.Exists(sourceDir), $"{sourceDir} is left on the source");
            Assert.False(QemuOf(daemons.SourceRoot), "a QEMU of the source's root still runs");

            // Stopped, it moves back without a mode: cold again, and it arrives created with its disk in place, so its
            // next start there is its third run.
            await target.StopAsync(MountedSandboxName);
            var back = await target.MoveAsync(MountedSandboxName, new MoveRequest { ToAddress = daemons.SourceAddress, ToToken = daemons.SourceToken });
            while (!OperationStatusNames.IsFinished(back.Status))
            {
                back = await target.WaitOperationAsync(back.Id, TimeSpan.FromSeconds(30));
            }
            Assert.True(back.Status == OperationStatusNames.Succeeded, $"the move back {back.Status}: {back.Error?.Detail}\nthe daemons:\n{daemons.OutputTail()}");
            var backResult = back.Result!.Value.Deserialize(StrataJsonContext.Default.MoveResult)!;
            Assert.Equal("cold", backResult.Mode);
            Assert.False(Directory.Exists(Path.Combine(daemons.TargetRoot, "instances", moved.Id)), "the target kept the directory of the sandbox that moved back");
            var returned = await source.GetAsync(MountedSandboxName);
            Assert.Equal("created", returned.State);
            await source.StartAsync(MountedSandboxName);
            Assert.True(await EventuallyAsync(async () => (await LogsAsync(source, MountedSandboxName)).Contains("runs 3", StringComparison.Ordinal), TimeSpan.FromSeconds(120)),
                $"the sandbox moved back stopped did not keep its disk; its log:\n{await LogsAsync(source, MountedSandboxName)}");
            await source.DeleteAsync(MountedSandboxName, force: true);
            Assert.False(Directory.Exists(Path.Combine(daemons.SourceRoot, "instances", returned.Id)));
            Assert.True(File.Exists(Path.Combine(shared, "in.txt")), "the host directory lost its file");
        }
        finally
        {
            await DeleteQuietlyAsync(source, MountedSandboxName);
            await DeleteQuietlyAsync(target, MountedSandboxName);
            Directory.Delete(shared, recursive: true);
        }
    }
    /// <summary>
    /// The source daemon killed (<c>kill -9</c>) while a cold move's switch runs (the target has created the sandbox and
    /// is taking its disk): the next source daemon finds the move it drove, asks the target, and exactly one copy is
    /// left, running, on one side or the other; the other side keeps no record, directory or QEMU of it.
    /// </summary>
    [SkippableFact]
    public async Task ColdMove_SourceDaemonKilledDuringTheSwitch_LeavesExactlyOneRunningCopy()
    {
        VmDaemon.RequireBinaries();
        const string name = "m20-sbxk";
        var target = daemons.TargetClient;
        await daemons.SourceClient.BuildBaseImageAsync("busybox");
        var shared = Directory.CreateTempSubdirectory("m20k-").FullName;
        await daemons.SourceClient.CreateAsync(new InstanceSpec
        {
            Name = name, Tier = "sandbox", Image = "busybox:latest",
            Mounts = [new MountSpec { Source = shared, Target = "/data" }],
            Args = ["sh", "-c", "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done"],
        });
        try
        {
            Assert.True(await EventuallyAsync(async () => GuestTicks.Last(await LogsAsync(daemons.SourceClient, name)) >= 2, TimeSpan.FromSeconds(120)), "the sandbox never counted");
            var op = await daemons.SourceClient.MoveAsync(name, new MoveRequest { ToAddress = daemons.TargetAddress, ToToken = daemons.TargetToken });
            var switching = false;
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (clock.Elapsed < TimeSpan.FromSeconds(120))
            {
                var now = await daemons.SourceClient.GetOperationAsync(op.Id);
                if (OperationStatusNames.IsFinished(now.Status))
                {
                    break;
                }
                if (now.Progress.Items.Any(i => i.Id == "move" && i.Current >= 4))
                {
                    switching = true;
                    break;
                }
                await Task.Delay(20);
            }
            Assert.True(switching, "the cold move never reached its switch before it ended");
            await daemons.CrashAndRestartSourceAsync();
            var source = daemons.SourceClient;

            async Task<InstanceInfo?> FindAsync(StrataClient client)
            {
                try
                {
                    return await client.GetAsync(name);
                }
                catch (StrataApiException e) when (e.Kind == ErrorKind.NotFound)
                {
                    return null;
                }
            }
            InstanceInfo? here = null, there = null;
            var settled = await EventuallyAsync(async () =>
            {
                here = await FindAsync(source);
                there = await FindAsync(target);
                return (here is null) != (there is null) && (here ?? there)!.State == "running";
            }, TimeSpan.FromSeconds(120));
            Assert.True(settled, $"not exactly one running copy: source {here?.State ?? "none"}, target {there?.State ?? "none"}\nthe daemons:\n{daemons.OutputTail(60)}");
            Assert.Contains(daemons.Output, l => l.Contains("cold move to", StringComparison.Ordinal) && l.Contains("is settled", StringComparison.Ordinal));
            var (winner, loserRoot) = here is not null ? (source, daemons.TargetRoot) : (target, daemons.SourceRoot);
            Assert.True(await EventuallyAsync(async () => GuestTicks.Last(await LogsAsync(winner, name)) >= 2, TimeSpan.FromSeconds(120)), "the copy left does not count");
            Assert.True(await TestEnvironment.EventuallyAsync(() => !QemuOf(loserRoot), TimeSpan.FromSeconds(30)), $"a QEMU of {loserRoot} still runs");
            var instances = Path.Combine(loserRoot, "instances");
            Assert.True(!Directory.Exists(instances) || Directory.GetDirectories(instances).Length == 0, $"{loserRoot} kept an instance directory");
        }
        finally
        {
            await DeleteQuietlyAsync(daemons.SourceClient, name);
            await DeleteQuietlyAsync(target, name);
            Directory.Delete(shared, recursive: true);
        }
    }
}
