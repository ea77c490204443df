using System.Text.Json;
using Strata.Contracts;
using Strata.Qemu.Guest;
using Strata.Qemu.Migration;
using Strata.Qemu.Qmp;
using Xunit.Abstractions;

namespace Strata.Qemu.Tests.Migration;

/// <summary>
/// Live migrations between two real QEMUs (TCG) on this host over unix sockets in the test's own directory: a guest
/// printing a counter every 10 ms moves and keeps counting; a disk is mirrored over NBD; a dead target or a cancel
/// leaves the source running and owning the guest, with nothing left of the target.
/// </summary>
public sealed class LiveMigrationTests : IClassFixture<GuestAssetsFixture>
{
    private static readonly TimeSpan BootTimeout = TimeSpan.FromSeconds(120);
    private const long QemuDefaultMaxBandwidth = 128L * 1024 * 1024; // QEMU 7.2's own default, restored after a failed move.

    private readonly GuestAssetsFixture _assets;
    private readonly ITestOutputHelper _output;

    public LiveMigrationTests(GuestAssetsFixture assets, ITestOutputHelper output)
    {
        _assets = assets;
        _output = output;
    }

    private GuestVmOptions Options(string directory, GuestWorkload workload, QemuDrive? disk = null) => new()
    {
        Directory = directory,
        KernelPath = _assets.Kernel.KernelPath,
        InitrdPath = _assets.Initrd,
        Workload = workload,
        RootDisk = disk,
    };

    [GuestFact]
    public async Task Migrate_CounterGuest_KeepsCountingOnTargetWithoutRestart()
    {
        using var dir = new TempDir();
        var options = Options(dir.Combine("s"), GuestCounter.Workload());
        await using var source = await QemuVm.StartAsync(QemuVm.Plan(options), CancellationToken.None);
        await using var sourceTail = new CounterTail(source.LaunchPlan.StdoutPath);
        await sourceTail.WaitForLinesAsync(30, BootTimeout);

        var incoming = await IncomingVm.StartAsync(new IncomingRequest
        {
            Plan = QemuVm.Plan(options with { Directory = dir.Combine("t") }),
            Source = MachineIdentity.FromArgv(source.LaunchPlan.Argv),
            Ram = MigrationChannel.Unix(dir.Combine("ram.sock")),
        }, CancellationToken.None);
        await using var target = incoming.Vm;
        await using var targetTail = new CounterTail(target.LaunchPlan.StdoutPath);
        var progress = new CounterGuest.Inline(_ => { });
        var qmp = await source.GetQmpAsync(CancellationToken.None);

        var result = await LiveMigration.MigrateAsync(qmp, incoming, new MigrationOptions(), progress, CancellationToken.None);

        await targetTail.WaitForLinesAsync(30, TimeSpan.FromSeconds(60));
        var trace = CounterTrace.Of(sourceTail.Lines, targetTail.Lines);
        _output.WriteLine($"total {result.Total.TotalMilliseconds:0} ms, QEMU downtime {result.QemuDowntime.TotalMilliseconds:0} ms, guest saw a largest gap of {trace.LargestGap.TotalMilliseconds:0} ms "
            + $"(at the switch {trace.SwitchGap.TotalMilliseconds:0} ms), RAM sent {result.RamBytes / 1024} KiB in {result.Iterations} passes; load {File.ReadAllText("/proc/loadavg").Trim()}");
        Assert.True(trace.Contiguous, $"the counter jumped or restarted: source ended at {trace.LastOnSource}, target began at {trace.FirstOnTarget}");
        Assert.Equal(trace.LastOnSource + 1, trace.FirstOnTarget);
        Assert.Equal("postmigrate", await StatusAsync(qmp));
        Assert.Equal("running", await StatusAsync(await target.GetQmpAsync(CancellationToken.None)));
        // Even when QEMU goes from 'setup' to 'completed' between two polls (155 ms on a quiet machine), the RAM pass is reported.
        Assert.True(progress.Reports.Any(r => r.Phase == MigrationPhase.SendingRam && r.RamTotal >= 256L * 1024 * 1024), string.Join("; ", progress.Reports));
        Assert.Equal(MigrationPhase.Completed, progress.Reports[^1].Phase);
        Assert.True(result.RamBytes > 0);
    }

    /// <summary>
    /// The switchover hands over the guest's memory exactly: a guest that forks a process every 20 ms and zeroes every
    /// page it frees (init_on_free=1, as template starts have) moves twice, and at each switchover the target's RAM,
    /// held paused until compared, is byte for byte the source's. A write the migration loses (the guest panicked on the
    /// target after some moves in loaded full runs) fails here even when the guest does not trip over it.
    /// </summary>
    [GuestFact]
    public async Task Migrate_ForkingGuest_TargetRamEqualsSourceRamAtEachSwitchover()
    {
        using var dir = new TempDir();
        var options = Options(dir.Combine("s0"), new GuestWorkload(["sh", "-c", "i=0; while :; do i=$((i+1)); echo $i; sleep 0.02; done"])) with
        {
            ExtraKernelArguments = "init_on_free=1",
        };
        QemuVm current = await QemuVm.StartAsync(QemuVm.Plan(options), CancellationToken.None);
        var tail = new CounterTail(current.LaunchPlan.StdoutPath);
        try
        {
            await tail.WaitForLinesAsync(30, BootTimeout);
            for (var move = 1; move <= 2; move++)
            {
                var qmp = await current.GetQmpAsync(CancellationToken.None);
                var incoming = await IncomingVm.StartAsync(new IncomingRequest
                {
                    Plan = SwitchoverRamCheck.Paused(QemuVm.Plan(options with { Directory = dir.Combine("s" + move) })),
                    Source = MachineIdentity.FromArgv(current.LaunchPlan.Argv),
                    Ram = MigrationChannel.Unix(dir.Combine($"ram{move}.sock")),
                }, CancellationToken.None);
                var check = new SwitchoverRamCheck(incoming, qmp, GuestRam.Bytes(options.MemoryMiB), dir.Combine("dumps"));
                var targetTail = new CounterTail(incoming.Vm.LaunchPlan.StdoutPath);
                try
                {
                    var result = await LiveMigration.MigrateAsync(qmp, check, new MigrationOptions(), null, CancellationToken.None);
                    _output.WriteLine($"move {move}: {result.Iterations} passes, QEMU downtime {result.QemuDowntime.TotalMilliseconds:0} ms, {check.DifferingPages.Count} pages differ; load {File.ReadAllText("/proc/loadavg").Trim()}");
                    Assert.True(check.Compared, "the RAM of the two sides was not compared");
                    Assert.True(check.DifferingPages.Count == 0,
                        $"move {move}: {check.DifferingPages.Count} pages of the target's RAM differ from the source's at the switchover: {check.Describe()}");
                    await targetTail.WaitForLinesAsync(20, TimeSpan.FromSeconds(60));
                    var values = tail.Lines.Concat(targetTail.Lines).Select(l => l.Value).ToList();
                    Assert.True(values.Zip(values.Skip(1)).All(p => p.Second == p.First + 1), $"move {move}: the counter did not go on by one: {string.Join(' ', values.TakeLast(40))}");
                }
                finally
                {
                    await tail.DisposeAsync();
                    await current.DisposeAsync();
                    current = incoming.Vm;
                    tail = targetTail;
                }
            }
        }
        finally
        {
            await tail.DisposeAsync();
            await current.DisposeAsync();
        }
    }

    [GuestFact]
    public async Task Migrate_GuestWithLocalDisk_FileWrittenBeforeIsOnTheTargetDisk()
    {
        using var dir = new TempDir();
        var token = Guid.NewGuid().ToString("N");
        var (options, source, sourceTail) = await StartDiskGuestAsync(dir, $"echo {token} > /marker; sync");
        await using var _ = source;
        await using var __ = sourceTail;
        var qmp = await source.GetQmpAsync(CancellationToken.None);
        var targetDisk = dir.Combine("t", "root.img");
        var incoming = await PrepareDiskTargetAsync(dir, options, source, qmp, targetDisk);
        await using var target = incoming.Vm;
        await using var targetTail = new CounterTail(target.LaunchPlan.StdoutPath);
        var progress = new CounterGuest.Inline(_ => { });

        var result = await LiveMigration.MigrateAsync(qmp, incoming, new MigrationOptions(), progress, CancellationToken.None);

        await targetTail.WaitForLinesAsync(30, TimeSpan.FromSeconds(60));
        var trace = CounterTrace.Of(sourceTail.Lines, targetTail.Lines);
        _output.WriteLine($"total {result.Total.TotalMilliseconds:0} ms (disks {result.DiskCopyTime.TotalMilliseconds:0} ms, {result.DiskBytes / 1024} KiB), "
            + $"QEMU downtime {result.QemuDowntime.TotalMilliseconds:0} ms, guest's largest gap {trace.LargestGap.TotalMilliseconds:0} ms");
        Assert.True(trace.Contiguous, $"source ended at {trace.LastOnSource}, target began at {trace.FirstOnTarget}");
        var reports = string.Join("; ", progress.Reports);
        Assert.True(progress.Reports.Any(r => r.Phase == MigrationPhase.CopyingDisks), reports);
        Assert.True(progress.Reports.Any(r => r.Phase == MigrationPhase.SwitchingOver), reports);
        Assert.True(result.DiskBytes > 0, reports);
        Assert.Equal("[]", (await qmp.ExecuteAsync("query-jobs")).GetRawText());

        // The target's disk, read on the host once its QEMU is gone, holds the file written on the source.
        await target.KillAsync();
        Assert.Equal(token, await ReadMarkerAsync(targetDisk));
    }

    [GuestFact]
    public async Task Migrate_OverTcpLoopbackWithPostcopy_DiskAndCounterArrive()
    {
        using var dir = new TempDir();
        var token = Guid.NewGuid().ToString("N");
        // The guest keeps rewriting 8 MiB, faster than the 16 MiB/s link carries, so precopy alone would not finish.
        var (options, source, sourceTail) = await StartDiskGuestAsync(dir, $"echo {token} > /marker; sync; "
            + "dd if=/dev/urandom of=/tmp/src bs=1M count=8 2>/dev/null; (while :; do dd if=/tmp/src of=/tmp/dst bs=1M count=8 conv=notrunc 2>/dev/null; usleep 100000; done) &");
        await using var _ = source;
        await using var __ = sourceTail;
        var qmp = await source.GetQmpAsync(CancellationToken.None);
        var disk = Assert.Single(await LiveMigration.DescribeDisksAsync(qmp, CancellationToken.None));
        var targetDisk = dir.Combine("t", "root.img");
        // Port 0: QEMU picks the RAM port, the engine a free NBD port; nothing collides with tests running beside this one.
        var incoming = await IncomingVm.StartAsync(new IncomingRequest
        {
            Plan = QemuVm.Plan(options with { Directory = dir.Combine("t"), RootDisk = new QemuDrive(targetDisk, disk.Format) }),
            Source = MachineIdentity.FromArgv(source.LaunchPlan.Argv),
            Disks = [new IncomingDisk(disk.Device, targetDisk, disk.Format, disk.SizeBytes)],
            Ram = MigrationChannel.Tcp("127.0.0.1", 0),
            Nbd = MigrationChannel.Tcp("127.0.0.1", 0),
            Postcopy = true,
        }, CancellationToken.None);
        await using var target = incoming.Vm;
        await using var targetTail = new CounterTail(target.LaunchPlan.StdoutPath);
        Assert.Matches(@"^tcp:127\.0\.0\.1:[1-9][0-9]*$", incoming.RamUri);
        Assert.NotEqual(0, incoming.Nbd!.Port);
        var progress = new CounterGuest.Inline(_ => { });

        var result = await LiveMigration.MigrateAsync(qmp, incoming,
            new MigrationOptions { Postcopy = true, MaxBandwidth = 16L * 1024 * 1024 }, progress, CancellationToken.None);

        await targetTail.WaitForLinesAsync(30, TimeSpan.FromSeconds(60));
        var trace = CounterTrace.Of(sourceTail.Lines, targetTail.Lines);
        _output.WriteLine($"postcopy {result.UsedPostcopy}, total {result.Total.TotalMilliseconds:0} ms, guest's largest gap {trace.LargestGap.TotalMilliseconds:0} ms");
        Assert.True(result.UsedPostcopy);
        Assert.Contains(progress.Reports, r => r.Phase == MigrationPhase.Postcopy);
        Assert.True(trace.Contiguous, $"source ended at {trace.LastOnSource}, target began at {trace.FirstOnTarget}");
        Assert.Equal("postmigrate", await StatusAsync(qmp));
        await target.KillAsync();
        Assert.Equal(token, await ReadMarkerAsync(targetDisk));
    }

    [GuestFact]
    public async Task Migrate_TargetKilledDuringRam_SourceKeepsRunningAndOwningTheGuest()
    {
        using var dir = new TempDir();
        var (options, source, sourceTail) = await StartDiskGuestAsync(dir, "true");
        await using var _ = source;
        await using var __ = sourceTail;
        var qmp = await source.GetQmpAsync(CancellationToken.None);
        var targetDisk = dir.Combine("t", "root.img");
        var incoming = await PrepareDiskTargetAsync(dir, options, source, qmp, targetDisk);
        await using var target = incoming.Vm;
        Task? kill = null;
        var progress = new CounterGuest.Inline(p =>
        {
            if (kill is null && p.Phase == MigrationPhase.SendingRam && p.RamTransferred > 256 * 1024)
            {
                kill = target.KillAsync();
            }
        });

        var e = await Assert.ThrowsAsync<StrataException>(() => LiveMigration.MigrateAsync(qmp, incoming,
            new MigrationOptions { MaxBandwidth = 4L * 1024 * 1024, ProgressInterval = TimeSpan.FromMilliseconds(50) }, progress, CancellationToken.None));

        _output.WriteLine(e.Message);
        Assert.NotNull(kill);
        Assert.Equal(ErrorKind.Unavailable, e.Kind);
        Assert.Contains("keeps running on the source", e.Message, StringComparison.Ordinal);
        await AssertSourceRunsCleanAsync(qmp, sourceTail);
        Assert.False(File.Exists(targetDisk));
        Assert.False(Directory.Exists(dir.Combine("t"))); // The target's directory, sockets and disk: nothing left.
        Assert.False(File.Exists(dir.Combine("nbd.sock")));
        Assert.False(File.Exists(dir.Combine("ram.sock")));
    }

    [GuestFact]
    public async Task Migrate_CancelledDuringRam_SourceKeepsRunningAndTargetIsGone()
    {
        using var dir = new TempDir();
        var options = Options(dir.Combine("s"), GuestCounter.Workload());
        await using var source = await QemuVm.StartAsync(QemuVm.Plan(options), CancellationToken.None);
        await using var sourceTail = new CounterTail(source.LaunchPlan.StdoutPath);
        await sourceTail.WaitForLinesAsync(30, BootTimeout);
        var incoming = await IncomingVm.StartAsync(new IncomingRequest
        {
            Plan = QemuVm.Plan(options with { Directory = dir.Combine("t") }),
            Ram = MigrationChannel.Unix(dir.Combine("ram.sock")),
        }, CancellationToken.None);
        await using var target = incoming.Vm;
        using var cancel = new CancellationTokenSource();
        var progress = new CounterGuest.Inline(p =>
        {
            if (p.Phase == MigrationPhase.SendingRam && p.RamTransferred > 256 * 1024)
            {
                cancel.Cancel();
            }
        });
        var qmp = await source.GetQmpAsync(CancellationToken.None);

        var e = await Assert.ThrowsAsync<StrataException>(() => LiveMigration.MigrateAsync(qmp, incoming,
            new MigrationOptions { MaxBandwidth = 4L * 1024 * 1024, ProgressInterval = TimeSpan.FromMilliseconds(50) }, progress, cancel.Token));

        Assert.Equal(ErrorKind.Cancelled, e.Kind);
        Assert.True(target.HasExited);
        Assert.Equal("cancelled", MigrationStatusOf(await qmp.ExecuteAsync("query-migrate")));
        await AssertSourceRunsCleanAsync(qmp, sourceTail);
    }

    [GuestFact]
    public async Task Migrate_CancelledDuringDiskCopy_SourceKeepsItsDiskAndTargetDiskIsRemoved()
    {
        using var dir = new TempDir();
        // 8 MiB that is not zeros, so the copy takes seconds at 1 MiB/s.
        var (options, source, sourceTail) = await StartDiskGuestAsync(dir, "dd if=/dev/urandom of=/fill bs=1M count=8 2>/dev/null; sync");
        await using var _ = source;
        await using var __ = sourceTail;
        var qmp = await source.GetQmpAsync(CancellationToken.None);
        var targetDisk = dir.Combine("t", "root.img");
        var incoming = await PrepareDiskTargetAsync(dir, options, source, qmp, targetDisk);
        await using var target = incoming.Vm;
        using var cancel = new CancellationTokenSource();
        var progress = new CounterGuest.Inline(p =>
        {
            if (p.Phase == MigrationPhase.CopyingDisks && p.DiskCopied > 0)
            {
                cancel.Cancel();
            }
        });

        var e = await Assert.ThrowsAsync<StrataException>(() => LiveMigration.MigrateAsync(qmp, incoming,
            new MigrationOptions { MaxBandwidth = 1024 * 1024, ProgressInterval = TimeSpan.FromMilliseconds(50) }, progress, cancel.Token));

        Assert.Equal(ErrorKind.Cancelled, e.Kind);
        Assert.True(target.HasExited);
        Assert.False(File.Exists(targetDisk));
        Assert.False(Directory.Exists(dir.Combine("t")));
        Assert.Equal("none", MigrationStatusOf(await qmp.ExecuteAsync("query-migrate"))); // RAM never started.
        await AssertSourceRunsCleanAsync(qmp, sourceTail);
    }

    // The source runs, counts on, and carries nothing of the move: no jobs, no NBD nodes, its migration settings as before.
    private static async Task AssertSourceRunsCleanAsync(QmpClient qmp, CounterTail sourceTail)
    {
        Assert.Equal("running", await StatusAsync(qmp));
        var before = sourceTail.Lines.Count;
        await sourceTail.WaitForLinesAsync(before + 20, TimeSpan.FromSeconds(60));
        var lines = sourceTail.Lines;
        Assert.True(lines.Zip(lines.Skip(1)).All(p => p.Second.Value == p.First.Value + 1), "the counter on the source jumped");
        Assert.Equal("[]", (await qmp.ExecuteAsync("query-jobs")).GetRawText());
        var nodes = await qmp.ExecuteAsync("query-named-block-nodes");
        Assert.DoesNotContain(nodes.EnumerateArray(), n => n.GetProperty("node-name").GetString()!.StartsWith("strata-move", StringComparison.Ordinal));
        var caps = await qmp.ExecuteAsync("query-migrate-capabilities");
        Assert.All(caps.EnumerateArray().Where(c => c.GetProperty("capability").GetString() is "pause-before-switchover" or "auto-converge" or "postcopy-ram" or "events"),
            c => Assert.False(c.GetProperty("state").GetBoolean(), c.GetRawText()));
        Assert.Equal(QemuDefaultMaxBandwidth, (await qmp.ExecuteAsync("query-migrate-parameters")).GetProperty("max-bandwidth").GetInt64());
    }

    private async Task<(GuestVmOptions Options, QemuVm Source, CounterTail Tail)> StartDiskGuestAsync(TempDir dir, string before)
    {
        var root = GuestCounter.BuildRoot(dir.Combine("rootfs"));
        var image = await new DiskBuilder(dir.Combine("disks")).BuildExt4Async(root, "counter-root", 64L * 1024 * 1024, CancellationToken.None);
        var options = Options(dir.Combine("s"), GuestCounter.Workload(before), new QemuDrive(image, "raw"));
        var source = await QemuVm.StartAsync(QemuVm.Plan(options), CancellationToken.None);
        var tail = new CounterTail(source.LaunchPlan.StdoutPath);
        await tail.WaitForLinesAsync(30, BootTimeout);
        return (options, source, tail);
    }

    private static async Task<IncomingVm> PrepareDiskTargetAsync(TempDir dir, GuestVmOptions options, QemuVm source, QmpClient qmp, string targetDisk)
    {
        var disks = await LiveMigration.DescribeDisksAsync(qmp, CancellationToken.None);
        var disk = Assert.Single(disks);
        Assert.Equal("raw", disk.Format);
        return await IncomingVm.StartAsync(new IncomingRequest
        {
            Plan = QemuVm.Plan(options with { Directory = dir.Combine("t"), RootDisk = new QemuDrive(targetDisk, disk.Format) }),
            Source = MachineIdentity.FromArgv(source.LaunchPlan.Argv),
            Disks = [new IncomingDisk(disk.Device, targetDisk, disk.Format, disk.SizeBytes)],
            Ram = MigrationChannel.Unix(dir.Combine("ram.sock")),
            Nbd = MigrationChannel.Unix(dir.Combine("nbd.sock")),
        }, CancellationToken.None);
    }

    // The guest's 'sync' commits /marker to ext4's journal; debugfs does not replay a journal, so the disk is first
    // recovered as a mount would (e2fsck exits 0 or 1 when it replayed or fixed nothing that matters).
    private static async Task<string> ReadMarkerAsync(string disk)
    {
        var fsck = await ExternalTool.RunAsync("e2fsck", ["-fy", disk], "e2fsprogs", CancellationToken.None);
        Assert.True(fsck.ExitCode <= 1, $"e2fsck {disk} exited {fsck.ExitCode}: {fsck.Stdout}{fsck.Stderr}");
        var cat = await ExternalTool.RunAsync("debugfs", ["-R", "cat /marker", disk], "e2fsprogs", CancellationToken.None);
        return cat.Stdout.Trim();
    }

    private static async Task<string> StatusAsync(QmpClient qmp) =>
        (await qmp.ExecuteAsync("query-status")).GetProperty("status").GetString()!;

    private static string MigrationStatusOf(JsonElement e) => e.TryGetProperty("status", out var s) ? s.GetString()! : "none";
}
