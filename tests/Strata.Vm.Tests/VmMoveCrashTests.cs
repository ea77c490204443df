using System.Diagnostics;
using System.Globalization;
using Strata.Client;
using Strata.Contracts;
using Strata.Testing;

namespace Strata.Vm.Tests;

/// <summary>
/// Two published stratad on one host, both listening on loopback TCP, either of which a test stops (SIGSTOP), kills
/// (<c>kill -9</c>) and starts again on its root: the crash windows of a live move (docs/move.md, "Crash windows").
/// </summary>
public sealed class MoveCrashDaemons : IAsyncLifetime
{
    private readonly PublishedNodePair _pair = new("mv29crash", "mv29c");

    public PublishedNode A => _pair.A;
    public PublishedNode B => _pair.B;

    public async Task InitializeAsync()
    {
        if (VmFixture.Supervisor is null || !File.Exists(VmDaemon.Cli) || !File.Exists(Path.Combine(TestEnvironment.ArtifactsBin, "stratad")))
        {
            return; // the test skips (or fails under CI) with the reason
        }
        await _pair.StartAsync();
    }

    public Task DisposeAsync() => _pair.DisposeAsync().AsTask();
}

internal static class MoveCrashNodes
{
    /// <summary>The last counter value in the files of instance <paramref name="id"/> on disk (read while the daemon may be stopped).</summary>
    public static int LastTickOnDisk(this PublishedNode node, string id)
    {
        // The supervisor's CRI log files (instances/ID/logs), which it writes whether or not the daemon runs.
        var dir = Path.Combine(node.Root, "instances", id, "logs");
        var last = 0;
        if (!Directory.Exists(dir))
        {
            return 0;
        }
        foreach (var file in Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories))
        {
            try
            {
                using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                using var reader = new StreamReader(stream);
                last = Math.Max(last, GuestTicks.Highest(reader.ReadToEnd()));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // a file going away
            }
        }
        return last;
    }
}

/// <summary>
/// The crash windows of a live move between two published daemons (real QEMU under TCG, one VM booted once and moved
/// back and forth): the target's QEMU killed mid-migration; the source daemon killed after the guest switched over,
/// before it cleaned up; the target daemon killed after it took over; the target daemon killed right after the
/// switchover, before it confirmed. After each, exactly one copy runs and the counter never restarts.
/// </summary>
public sealed class VmMoveCrashTests(MoveCrashDaemons daemons) : IClassFixture<MoveCrashDaemons>
{
    private const string Name = "mv29c-vm";
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(180);

    [SkippableFact]
    public async Task Move_CrashWindowsAroundTheSwitchover_LeaveExactlyOneRunningCopy()
    {
        VmDaemon.RequireBinaries();
        var a = daemons.A;
        var b = daemons.B;
        await a.Client.BuildBaseImageAsync("busybox");
        await a.Client.CreateAsync(new InstanceSpec
        {
            Name = Name, Tier = "vm", Image = "busybox:latest", Resources = new ResourceSpec { MemoryBytes = 256L * 1024 * 1024 },
            Args = ["sh", "-c", "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.1; done"],
        });
        var info = await a.Client.GetAsync(Name);
        var id = info.Id;
        Assert.True(await TicksAtLeastAsync(a, 3), "the guest never counted on A");

        // 1. The target's QEMU killed mid-migration: the move fails, the source keeps running and stays the owner.
        var op = await a.Client.MoveAsync(Name, new MoveRequest { ToAddress = b.Address, ToToken = b.Token, Bandwidth = "2M" });
        Assert.True(await SendingAsync(a, op.Id), "the move never started sending");
        var targetQemu = Assert.Single(b.Qemus());
        TestEnvironment.Exec("kill", ["-KILL", targetQemu.ToString(CultureInfo.InvariantCulture)]);
        var failed = await FinishedAsync(a, op.Id);
        Assert.Equal(OperationStatusNames.Failed, failed.Status);
        await AssertOnlyOnAsync(a, b, id, info.Pid!.Value);
        Assert.True(await TicksAtLeastAsync(a, await LastTickAsync(a) + 5), "the guest stopped counting on A after the target's QEMU died");

        // 2. The source daemon killed after the guest switched over, before it cleaned up. The target is held (SIGSTOP)
        // so the source cannot finish; once the guest counts in the target's QEMU, the source dies and the target goes on.
        // The restarted source asks the target, which runs the guest: its stopped copy is removed.
        var before2 = await LastTickAsync(a);
        op = await a.Client.MoveAsync(Name, new MoveRequest { ToAddress = b.Address, ToToken = b.Token, Bandwidth = "4M" });
        Assert.True(await SendingAsync(a, op.Id), "the move never started sending");
        b.Signal("STOP");
        Assert.True(await TestEnvironment.EventuallyAsync(() => b.LastTickOnDisk(id) > before2, Long), $"the guest never ran in the target's QEMU; B said:\n{string.Join('\n', b.Output.TakeLast(40))}\nA said:\n{string.Join('\n', a.Output.TakeLast(40))}");
        await a.KillAsync();
        b.Signal("CONT");
        var sourceQemus = a.Qemus();
        Assert.Single(sourceQemus); // the stopped (postmigrate) copy, until the restarted daemon settles the move
        await a.StartAsync();
        Assert.True(await TestEnvironment.EventuallyAsync(async () => !await ExistsAsync(a), Long), "the restarted source kept its copy");
        Assert.True(await TestEnvironment.EventuallyAsync(() => a.Qemus().Count == 0, Long), "the source's stopped QEMU still runs");
        Assert.False(Directory.Exists(Path.Combine(a.Root, "instances", id)), "the source kept the instance's directory");
        Assert.Contains(a.Output, l => l.Contains("the stopped copy here", StringComparison.Ordinal));
        var onB = await b.Client.GetAsync(Name);
        Assert.Equal(id, onB.Id);
        Assert.Equal("running", onB.State);
        Assert.Single(b.Qemus());
        Assert.True(await TicksAtLeastAsync(b, b.LastTickOnDisk(id) + 5), "the guest does not count on B");
        Assert.True(GuestTicks.All(await LogsAsync(b)).Min() > before2 - 1, "the counter restarted on B");
        // A second project on B sees none of it and cannot touch it.
        await b.Client.CreateProjectAsync(new CreateProjectRequest { Name = "mv29cother" });
        using (var other = new StrataClient(new ClientOptions { Socket = b.Socket, Token = (await b.Client.CreateTokenAsync("mv29cother", "admin")).Token! }))
        {
            Assert.Empty((await other.ListAsync()).Items);
            Assert.Equal(ErrorKind.NotFound, (await Assert.ThrowsAsync<StrataApiException>(() => other.StopAsync(Name))).Kind);
            Assert.Equal(ErrorKind.NotFound, (await Assert.ThrowsAsync<StrataApiException>(() => other.MoveAsync(Name, new MoveRequest { ToAddress = a.Address, ToToken = a.Token }))).Kind);
        }

        // 3. The target daemon killed after it took over: its next start reattaches the same QEMU.
        var pidOnB = onB.Pid!.Value;
        await b.KillAsync();
        await b.StartAsync();
        var reattached = await b.Client.GetAsync(Name);
        Assert.Equal("running", reattached.State);
        Assert.Equal(pidOnB, reattached.Pid);
        Assert.True(await TicksAtLeastAsync(b, await LastTickAsync(b) + 5), "the guest stopped counting on B after its daemon restarted");

        // 4. The target daemon killed right after the switchover, before it confirmed (B moves it back to A; A is held,
        // then killed). B keeps its copy stopped while A cannot answer: only A's QEMU runs the guest. A's restart removes
        // its unconfirmed copy, and B, told A holds none, resumes the guest.
        var before4 = await LastTickAsync(b);
        op = await b.Client.MoveAsync(Name, new MoveRequest { ToAddress = a.Address, ToToken = a.Token, Bandwidth = "4M" });
        Assert.True(await SendingAsync(b, op.Id), "the move back never started sending");
        a.Signal("STOP");
        Assert.True(await TestEnvironment.EventuallyAsync(() => a.LastTickOnDisk(id) > before4, Long), $"the guest never ran in A's QEMU; A said:\n{string.Join('\n', a.Output.TakeLast(40))}\nB said:\n{string.Join('\n', b.Output.TakeLast(40))}");
        await a.KillAsync();
        // B's copy stands stopped: its counter does not move while A's daemon is down.
        var pausedAt = await LastTickAsync(b);
        Assert.True(await TestEnvironment.EventuallyAsync(() => b.Output.Any(l => l.Contains("outcome is not known yet", StringComparison.Ordinal)), Long),
            "B did not notice the lost confirmation");
        Assert.Equal(pausedAt, await LastTickAsync(b));
        Assert.False((await b.Client.GetOperationAsync(op.Id)).Status == OperationStatusNames.Succeeded);
        await a.StartAsync();
        var undone = await FinishedAsync(b, op.Id);
        Assert.Equal(OperationStatusNames.Failed, undone.Status);
        Assert.Contains("holds no copy", undone.Error!.Detail, StringComparison.Ordinal);
        await AssertOnlyOnAsync(b, a, id, pidOnB);
        Assert.True(await TicksAtLeastAsync(b, pausedAt + 5), "the guest did not resume on B");
        var resumed = GuestTicks.All(await LogsAsync(b));
        Assert.True(resumed.Max() > before4, "the counter went back on B");

        await b.Client.DeleteAsync(Name, force: true);
        Assert.True(await TestEnvironment.EventuallyAsync(() => b.Qemus().Count == 0 && a.Qemus().Count == 0, TimeSpan.FromSeconds(60)), "a QEMU is left");
    }

    /// <summary>Only <paramref name="owner"/> has the instance (running, QEMU <paramref name="pid"/>); <paramref name="other"/> keeps nothing of it.</summary>
    private static async Task AssertOnlyOnAsync(PublishedNode owner, PublishedNode other, string id, int pid)
    {
        var info = await owner.Client.GetAsync(Name);
        Assert.Equal("running", info.State);
        Assert.Equal(pid, info.Pid);
        Assert.True(await TestEnvironment.EventuallyAsync(async () => !await ExistsAsync(other), Long), "the other daemon lists the instance");
        Assert.True(await TestEnvironment.EventuallyAsync(() => other.Qemus().Count == 0, Long), "a QEMU of the other daemon's root still runs");
        Assert.True(await TestEnvironment.EventuallyAsync(() => !Directory.Exists(Path.Combine(other.Root, "instances", id)), Long),
            "the other daemon kept the instance's directory");
    }

    private static async Task<bool> ExistsAsync(PublishedNode node)
    {
        try
        {
            await node.Client.GetAsync(Name);
            return true;
        }
        catch (StrataApiException e) when (e.Kind == ErrorKind.NotFound)
        {
            return false;
        }
    }

    private static Task<bool> SendingAsync(PublishedNode node, string operation) =>
        TestEnvironment.EventuallyAsync(async () => (await node.Client.GetOperationAsync(operation)).Progress.Items.Any(i => i.Current > 0), Long,
            TimeSpan.FromMilliseconds(50));

    private static async Task<OperationInfo> FinishedAsync(PublishedNode node, string operation)
    {
        var clock = Stopwatch.StartNew();
        var info = await node.Client.GetOperationAsync(operation);
        while (!OperationStatusNames.IsFinished(info.Status) && clock.Elapsed < TimeSpan.FromMinutes(6))
        {
            info = await node.Client.WaitOperationAsync(operation, TimeSpan.FromSeconds(30));
        }
        Assert.True(OperationStatusNames.IsFinished(info.Status), $"the move did not finish: {info.Status}");
        return info;
    }

    private static Task<string> LogsAsync(PublishedNode node) => InstanceOutput.LogTextAsync(node.Client, Name);

    private static async Task<int> LastTickAsync(PublishedNode node) => GuestTicks.Highest(await LogsAsync(node));

    private static Task<bool> TicksAtLeastAsync(PublishedNode node, int atLeast) =>
        TestEnvironment.EventuallyAsync(async () => await LastTickAsync(node) >= atLeast, Long, TimeSpan.FromMilliseconds(200));
}
