using System.Text.Json;
using Strata.Client;
using Strata.Contracts;
using Strata.Testing;

namespace Strata.Vm.Tests;

/// <summary>
/// Two published stratad on one host with their own --root, --socket and --node; both listen on loopback TCP with their
/// admin tokens (the target for every move, the source for a cold move coming back). Shared by the move tests: one VM boots once and is moved (cancelled first, then for real).
/// </summary>
public sealed class MoveDaemons : IAsyncLifetime
{
    private readonly PublishedNodePair _pair;

    public MoveDaemons() => _pair = new PublishedNodePair("m20-move", "m20", listenA: true, Output, "source: ", "target: ");

    private PublishedNode SourceSide => _pair.A;
    private PublishedNode TargetSide => _pair.B;

    public string SourceRoot => SourceSide.Root;
    public string TargetRoot => TargetSide.Root;
    public string SourceSocket => SourceSide.Socket;
    public string TargetSocket => TargetSide.Socket;
    public string TargetAddress => TargetSide.Address;
    /// <summary>The source listens too: a cold move comes back to it.</summary>
    public string SourceAddress => SourceSide.Address;
    public string SourceToken => SourceSide.Token;
    public string SourceNode => SourceSide.Node;
    public string TargetNode => TargetSide.Node;
    public string TargetToken => TargetSide.Token;
    public StrataClient SourceClient => SourceSide.Client;
    public StrataClient TargetClient => TargetSide.Client;

    /// <summary>Both daemons' output lines, each prefixed with its side, for failure messages.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<string> Output { get; } = new();

    /// <summary>The last <paramref name="lines"/> lines the daemons wrote, for a failure message.</summary>
    public string OutputTail(int lines = 40) => string.Join('\n', Output.TakeLast(lines));

    public async Task InitializeAsync()
    {
        if (VmFixture.Supervisor is null || !File.Exists(VmDaemon.Cli) || !File.Exists(Path.Combine(TestEnvironment.ArtifactsBin, "stratad")))
        {
            return; // the test skips (or fails under CI) with the reason
        }
        await _pair.StartAsync();
    }

    /// <summary><c>kill -9</c> of the source daemon, then a new one on the same root.</summary>
    public async Task CrashAndRestartSourceAsync()
    {
        await SourceSide.KillAsync();
        await SourceSide.StartAsync();
    }

    /// <summary>The CLI against the source daemon.</summary>
    public (int ExitCode, string Stdout, string Stderr) Cli(params string[] args) => PublishedCli.Run(SourceSocket, TimeSpan.FromSeconds(300), args);

    public Task DisposeAsync() => _pair.DisposeAsync().AsTask();
}

/// <summary>
/// <c>strata move</c> of a running VM between two published daemons (real QEMU under TCG): a cancelled move and a
/// refused one leave it running on the source with nothing on the target; the real move keeps the guest's counter
/// going on the target without a restart, carries its disk, and leaves nothing of it on the source. A second
/// project's token sees and touches none of it.
/// </summary>
public sealed partial class VmMoveTests(MoveDaemons daemons) : IClassFixture<MoveDaemons>
{
    private const string Name = "m20-vm";

    [SkippableFact]
    public async Task Move_RunningVm_CancelAndRefusalLeaveItHere_ThenItMovesWithoutRestart()
    {
        VmDaemon.RequireBinaries();
        var source = daemons.SourceClient;
        var target = daemons.TargetClient;
        await source.BuildBaseImageAsync("busybox");
        // The file is written at the first boot; a later boot finds it only if the disk moved with the guest.
        // Its first start restores the image's template (made by this start): the restored machine is what moves.
        await source.CreateAsync(new InstanceSpec
        {
            Name = Name, Tier = "vm", Image = "busybox:latest", Resources = new ResourceSpec { MemoryBytes = 256L * 1024 * 1024 },
            Args = ["sh", "-c", "[ -f /m20.txt ] && echo found $(cat /m20.txt); echo m20-data > /m20.txt; sync; i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.1; done"],
        });
        var before = await source.GetAsync(Name);
        var sourcePid = before.Pid!.Value;
        var how = before.Details?.GetValueOrDefault("template") ?? "(none)";
        Assert.True(how.StartsWith("template ", StringComparison.Ordinal), $"the VM did not start from its template: {how}");
        var sourceDir = Path.Combine(daemons.SourceRoot, "instances", before.Id);
        Assert.True(await EventuallyTicksAsync(source, 3), "the guest never counted on the source");

        // A second project's token: the instance is not there for it, and it cannot move it.
        await source.CreateProjectAsync(new CreateProjectRequest { Name = "m20other" });
        var otherToken = (await source.CreateTokenAsync("m20other", "admin")).Token!;
        using var other = new StrataClient(new ClientOptions { Socket = daemons.SourceSocket, Token = otherToken });
        var refused = await Assert.ThrowsAsync<StrataApiException>(() => other.MoveAsync(Name, new MoveRequest { ToAddress = daemons.TargetAddress, ToToken = daemons.TargetToken }));
        Assert.Equal(ErrorKind.NotFound, refused.Kind);

        // Bad input names the problem before anything starts.
        var noAddress = await Assert.ThrowsAsync<StrataApiException>(() => source.MoveAsync(Name, new MoveRequest { ToToken = "x" }));
        Assert.Contains("--to-address", noAddress.Message, StringComparison.Ordinal);

        // A token the target refuses: the move fails, the VM runs on here, the target has nothing.
        var badToken = await WaitAsync(await source.MoveAsync(Name, new MoveRequest { ToAddress = daemons.TargetAddress, ToToken = new string('0', 64) }));
        Assert.Equal(OperationStatusNames.Failed, badToken.Status);
        Assert.Contains("the target daemon", badToken.Error!.Detail, StringComparison.Ordinal);
        await AssertStillHereAsync(sourcePid);

        // Cancelled while the disk or RAM is sent (a 1 MiB/s link keeps it there): the source runs on untouched, the target is clean.
        var slow = await source.MoveAsync(Name, new MoveRequest { ToAddress = daemons.TargetAddress, ToToken = daemons.TargetToken, Bandwidth = "1M" });
        Assert.True(await EventuallyAsync(async () =>
            (await source.GetOperationAsync(slow.Id)).Progress.Items.Any(i => i.Current > 0), TimeSpan.FromSeconds(120)),
            "the move never started sending");
        // The other project sees no such operation, and cannot cancel it.
        Assert.DoesNotContain((await other.ListOperationsAsync()).Items, o => o.Id == slow.Id);
        Assert.Equal(ErrorKind.NotFound, (await Assert.ThrowsAsync<StrataApiException>(() => other.CancelOperationAsync(slow.Id))).Kind);
        var cancelled = await source.CancelOperationAsync(slow.Id);
        Assert.Equal(OperationStatusNames.Cancelled, cancelled.Status);
        var ticksAfterCancel = GuestTicks.Last(await LogsAsync(source));
        await AssertStillHereAsync(sourcePid);
        Assert.True(await EventuallyTicksAsync(source, ticksAfterCancel + 5), "the guest stopped counting on the source after the cancelled move");

        // The source daemon killed while RAM is sent: the next one finds the move nobody drives, undoes it and keeps
        // the guest; the target's receiving QEMU loses its stream and the target removes it.
        var crashed = await source.MoveAsync(Name, new MoveRequest { ToAddress = daemons.TargetAddress, ToToken = daemons.TargetToken, Bandwidth = "1M" });
        Assert.True(await EventuallyAsync(async () =>
            (await source.GetOperationAsync(crashed.Id)).Progress.Items.Any(i => i.Id == "ram" && i.Current > 0), TimeSpan.FromSeconds(120)),
            "the move never started sending RAM");
        await daemons.CrashAndRestartSourceAsync();
        await AssertStillHereAsync(sourcePid);
        var ticksAfterCrash = GuestTicks.Last(await LogsAsync(source));
        Assert.True(await EventuallyTicksAsync(source, ticksAfterCrash + 5), "the guest stopped counting on the source after the crashed move");

        // The move, through the CLI with --json.
        var lastOnSource = GuestTicks.Last(await LogsAsync(source));
        var (code, stdout, stderr) = daemons.Cli("move", Name, "--to-address", daemons.TargetAddress, "--to-token", daemons.TargetToken, "--json");
        Assert.True(code == 0, $"strata move exited {code}: {stderr}\n{stdout}");
        var op = JsonSerializer.Deserialize(stdout, StrataJsonContext.Default.OperationInfo)!;
        Assert.Equal(OperationStatusNames.Succeeded, op.Status);
        var result = op.Result!.Value.Deserialize(StrataJsonContext.Default.MoveResult)!;
        Assert.Equal(Name, result.Name);
        Assert.True(result.RamBytes > 0 && result.DiskBytes > 0, $"RAM {result.RamBytes}, disk {result.DiskBytes}");

        // The target owns it: same id, running, and the counter goes on from where it was (no restart: no 'tick 1').
        var moved = await target.GetAsync(Name);
        Assert.Equal(before.Id, moved.Id);
        Assert.Equal("running", moved.State);
        Assert.True(await EventuallyTicksAsync(target, lastOnSource + 10), "the guest did not count on after the move");
        var targetTicks = GuestTicks.All(await LogsAsync(target));
        Assert.True(targetTicks[0] > lastOnSource, $"the counter restarted on the target: first tick there {targetTicks[0]}, last on the source at least {lastOnSource}");
        Assert.DoesNotContain("found", await LogsAsync(target), StringComparison.Ordinal);
        AssertAnotherUserReachesNothing(daemons.TargetRoot);

        // The source forgot it: no record, no QEMU, no files.
        Assert.Equal(ErrorKind.NotFound, (await Assert.ThrowsAsync<StrataApiException>(() => source.GetAsync(Name))).Kind);
        Assert.True(await TestEnvironment.EventuallyAsync(() => !Directory.Exists($"/proc/{sourcePid}"), TimeSpan.FromSeconds(30)), "the source QEMU still runs");
        Assert.False(Directory.Exists(sourceDir), $"{sourceDir} is left on the source");

        // The disk came along: a restart on the target boots from the moved disk and finds the file.
        await target.StopAsync(Name, timeoutSeconds: 5);
        await target.StartAsync(Name);
        Assert.True(await EventuallyAsync(async () => (await LogsAsync(target)).Contains("found m20-data", StringComparison.Ordinal), TimeSpan.FromSeconds(120)), "the file written on the source is not on the moved disk");
        await target.DeleteAsync(Name, force: true);
        Assert.False(Directory.Exists(Path.Combine(daemons.TargetRoot, "instances", before.Id)));
    }

    // While a VM runs (a moved one included), another local user lists, reads, writes or runs nothing under the data
    // root: not its disks, overlay, configuration or serial log, even with every parent directory open (#17 item 1).
    private static void AssertAnotherUserReachesNothing(string root)
    {
        var parent = Path.GetDirectoryName(root)!;
        var mode = File.GetUnixFileMode(parent);
        File.SetUnixFileMode(parent, mode | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        try
        {
            using var user = UnprivilegedUser.Create();
            var census = UnprivilegedUser.Census(root);
            Assert.Contains(census, p => p.Contains("/instances/", StringComparison.Ordinal) && p.EndsWith(".qcow2", StringComparison.Ordinal));
            Assert.Equal(["s " + root], user.Reachable([root])); // seen in its open parent, but closed
            Assert.Empty(user.Reachable(census));
        }
        finally
        {
            File.SetUnixFileMode(parent, mode);
        }
    }

    private async Task AssertStillHereAsync(int sourcePid)
    {
        var info = await daemons.SourceClient.GetAsync(Name);
        Assert.Equal("running", info.State);
        Assert.Equal(sourcePid, info.Pid);
        Assert.True(await EventuallyAsync(async () => (await daemons.TargetClient.ListAsync()).Items.Count == 0, TimeSpan.FromSeconds(30)),
            "the target still lists the instance of the failed move");
        var instances = Path.Combine(daemons.TargetRoot, "instances");
        Assert.True(await TestEnvironment.EventuallyAsync(() => !Directory.Exists(instances) || Directory.GetDirectories(instances).Length == 0, TimeSpan.FromSeconds(30)),
            "the target kept a directory of the failed move");
        Assert.True(await TestEnvironment.EventuallyAsync(() => !QemuOf(daemons.TargetRoot), TimeSpan.FromSeconds(30)), "a QEMU of the target's root still runs");
    }

    private async Task<OperationInfo> WaitAsync(OperationInfo operation)
    {
        var info = operation;
        while (!OperationStatusNames.IsFinished(info.Status))
        {
            info = await daemons.SourceClient.WaitOperationAsync(operation.Id, TimeSpan.FromSeconds(30));
        }
        return info;
    }

    private static Task<string> LogsAsync(StrataClient client, string name = Name) => InstanceOutput.LogTextAsync(client, name);

    private static Task<bool> EventuallyTicksAsync(StrataClient client, int atLeast) =>
        EventuallyAsync(async () => GuestTicks.Last(await LogsAsync(client)) >= atLeast, TimeSpan.FromSeconds(120));

    private static Task<bool> EventuallyAsync(Func<Task<bool>> condition, TimeSpan timeout) =>
        TestEnvironment.EventuallyAsync(condition, timeout, TimeSpan.FromMilliseconds(200));

    /// <summary>A QEMU whose command line names a path under <paramref name="root"/> runs.</summary>
    internal static bool QemuOf(string root) => ProcessCensus.Qemus(root).Count > 0;
}
