using System.Text.Json;
using System.Text.Json.Nodes;
using Strata.Contracts;
using Strata.Qemu.Qmp;

namespace Strata.Qemu.Tests;

public sealed class QmpClientTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    // A paused machine with no guest: enough for QMP, and instant to start.
    private static async Task<QemuVm> StartPausedAsync(TempDir dir)
    {
        var qmp = dir.Combine("qmp.sock");
        var argv = new List<string>
        {
            "qemu-system-x86_64", "-M", "none", "-S", "-accel", "tcg", "-nodefaults", "-no-user-config", "-nographic",
            "-qmp", $"unix:{qmp},server=on,wait=off",
        };
        var plan = new QemuLaunchPlan(argv, dir.Path, qmp, dir.Combine("qemu.pid"), dir.Combine("serial.log"),
            dir.Combine("stdout"), dir.Combine("stderr"), dir.Combine("control"));
        return await QemuVm.StartAsync(plan, CancellationToken.None);
    }

    [QemuFact]
    public async Task ConnectAsync_RealQemu_NegotiatesAndQueriesStatus()
    {
        using var dir = new TempDir();
        await using var vm = await StartPausedAsync(dir);
        var qmp = await vm.GetQmpAsync(CancellationToken.None);

        Assert.Matches(@"^\d+\.\d+\.\d+$", qmp.QemuVersion);
        var status = await qmp.ExecuteAsync("query-status");
        Assert.Equal("prelaunch", status.GetProperty("status").GetString());
        Assert.False(status.GetProperty("running").GetBoolean());
    }

    [QemuFact]
    public async Task ExecuteAsync_ContStopQuit_RaisesResumeStopShutdownEvents()
    {
        using var dir = new TempDir();
        await using var vm = await StartPausedAsync(dir);
        var qmp = await vm.GetQmpAsync(CancellationToken.None);
        using var cts = new CancellationTokenSource(Timeout);

        await qmp.ExecuteAsync("cont", null, cts.Token);
        var resume = await qmp.WaitForEventAsync("RESUME", cts.Token);
        Assert.True(resume.Timestamp > DateTimeOffset.UnixEpoch);
        Assert.True((await qmp.ExecuteAsync("query-status", null, cts.Token)).GetProperty("running").GetBoolean());

        await qmp.ExecuteAsync("stop", null, cts.Token);
        await qmp.WaitForEventAsync("STOP", cts.Token);
        Assert.Equal("paused", (await qmp.ExecuteAsync("query-status", null, cts.Token)).GetProperty("status").GetString());

        await qmp.ExecuteAsync("quit", null, cts.Token);
        var shutdown = await qmp.WaitForEventAsync("SHUTDOWN", cts.Token);
        Assert.Equal("host-qmp-quit", shutdown.Data.GetProperty("reason").GetString());
        await qmp.Closed.WaitAsync(cts.Token);
        var exit = await vm.WaitAsync(cts.Token);
        Assert.Equal(0, exit.QemuExitCode);
    }

    [QemuFact]
    public async Task ExecuteAsync_UnknownCommand_MapsErrorClass()
    {
        using var dir = new TempDir();
        await using var vm = await StartPausedAsync(dir);
        var qmp = await vm.GetQmpAsync(CancellationToken.None);

        var e = await Assert.ThrowsAsync<QmpException>(() => qmp.ExecuteAsync("no-such-command"));
        Assert.Equal("CommandNotFound", e.ErrorClass);
        Assert.Equal(ErrorKind.Unavailable, e.Kind);

        var bad = await Assert.ThrowsAsync<QmpException>(() => qmp.ExecuteAsync("device_del", new JsonObject { ["id"] = "nothing-here" }));
        Assert.Equal(ErrorKind.NotFound, bad.Kind);

        // The connection stays usable after errors.
        Assert.Equal(JsonValueKind.Object, (await qmp.ExecuteAsync("query-status")).ValueKind);
    }

    [QemuFact]
    public async Task ConnectAsync_AfterClientGoneAway_ReattachesToRunningQemu()
    {
        using var dir = new TempDir();
        await using var vm = await StartPausedAsync(dir);
        var first = await QmpClient.ConnectAsync(vm.LaunchPlan.QmpSocket, Timeout, CancellationToken.None);
        await first.ExecuteAsync("cont");
        await first.DisposeAsync(); // The daemon goes away; QEMU keeps running.
        Assert.False(first.IsConnected);
        Assert.False(vm.HasExited);

        await using var second = await QmpClient.ConnectAsync(vm.LaunchPlan.QmpSocket, Timeout, CancellationToken.None);
        Assert.Equal("running", (await second.ExecuteAsync("query-status")).GetProperty("status").GetString());
    }

    [QemuFact]
    public async Task ExecuteAsync_Cancelled_ThrowsAndConnectionStaysUsable()
    {
        using var dir = new TempDir();
        await using var vm = await StartPausedAsync(dir);
        var qmp = await vm.GetQmpAsync(CancellationToken.None);
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => qmp.ExecuteAsync("query-status", null, cancelled.Token));
        Assert.Equal("prelaunch", (await qmp.ExecuteAsync("query-status")).GetProperty("status").GetString());
    }

    [Fact]
    public async Task ConnectAsync_NoSocket_FailsWithUnavailableAfterTimeout()
    {
        using var dir = new TempDir();
        var e = await Assert.ThrowsAsync<StrataException>(() => QmpClient.ConnectAsync(dir.Combine("none.sock"), TimeSpan.FromMilliseconds(300), CancellationToken.None));
        Assert.Equal(ErrorKind.Unavailable, e.Kind);
        Assert.Contains("none.sock", e.Message, StringComparison.Ordinal);
    }

    [QemuFact]
    public async Task ExecuteAsync_QemuKilled_PendingAndLaterCallsFailUnavailable()
    {
        using var dir = new TempDir();
        await using var vm = await StartPausedAsync(dir);
        var qmp = await vm.GetQmpAsync(CancellationToken.None);
        await vm.KillAsync();
        await qmp.Closed.WaitAsync(Timeout);
        var e = await Assert.ThrowsAsync<StrataException>(() => qmp.ExecuteAsync("query-status"));
        Assert.Equal(ErrorKind.Unavailable, e.Kind);
    }
}
