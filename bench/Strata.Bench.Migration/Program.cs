// Live migration (issue 20) under TCG on this host, the two QEMUs on unix sockets.
// 1. Idle: a 256 MiB busybox guest printing a counter every 10 ms, on a 1 GiB qcow2 disk (overlay on an ext4 base).
//    Strata moves it with its disk mirrored over NBD; the baseline is QEMU's own live migration of the same guest with
//    shared storage (the target opens the same disk) and QEMU's default parameters. Alternating rounds (ABBA).
//    Measured: the downtime the guest sees (the counter's gap across the switch, on the host clock), the whole move
//    (target start to guest running there), bytes sent, QEMU's own downtime figure.
// 2. A guest dirtying ~50 MiB/s of RAM over a 32 MiB/s link: Strata (auto-converge) against the same move without
//    auto-converge, which should not converge within its time limit.
// Usage: Strata.Bench.Migration [RUNS] (0: only the dirtying guest)
//        Strata.Bench.Migration daemons [ROUNDS] [BIN]: `strata move` between two published daemons (DaemonMoves.cs)
//        Strata.Bench.Migration stress [ROUNDS] [BIN] [--burners N] [--tier vm|sandbox] [--no-template]: moves back and
//        forth under CPU load, checking every move for a guest that did not go on or panicked (StressMoves.cs)
//        Strata.Bench.Migration pingpong [ROUNDS] [--nopti] [--burners N]: raw QEMU moves of one busy guest back and
//        forth, checking its counter never goes back (RawPingPong.cs)
using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Strata.Bench.Migration;
using Strata.Qemu;
using Strata.Qemu.Guest;
using Strata.Qemu.Migration;

if (args is ["pingpong", ..])
{
    Environment.Exit(await Strata.Bench.Migration.RawPingPong.RunAsync(args[1..]));
}
if (args is ["stress", ..])
{
    Environment.Exit(await Strata.Bench.Migration.StressMoves.RunAsync(args[1..]));
}
if (args is ["daemons", ..])
{
    await Strata.Bench.Migration.DaemonMoves.RunAsync(args[1..]);
    return;
}
var runs = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 3;
var root = Directory.CreateTempSubdirectory("sbm-").FullName;
var boot = TimeSpan.FromSeconds(180);
try
{
    var kernel = GuestKernel.Locate();
    var initrd = await new InitramfsBuilder(kernel).EnsureAsync(Path.Combine(root, "assets"), CancellationToken.None);
    var disks = new DiskBuilder(Path.Combine(root, "disks"));
    var baseImage = await disks.BuildExt4Async(GuestCounter.BuildRoot(Path.Combine(root, "rootfs")), "bench-root", 1L << 30, CancellationToken.None);
    Console.WriteLine($"host: {Environment.ProcessorCount} CPUs, load {HostLoad.Now()}; guest: 256 MiB, 1 GiB qcow2 disk over an ext4 base, TCG");

    var strata = new List<Move>();
    var baseline = new List<Move>();
    for (var i = 0; i < runs; i++)
    {
        var first = i % 2 == 0;
        for (var side = 0; side < 2; side++)
        {
            var dir = Path.Combine(root, $"r{i}{side}");
            Directory.CreateDirectory(dir);
            var overlay = Path.Combine(dir, "disk.qcow2");
            await disks.CreateOverlayAsync(baseImage, "raw", overlay, CancellationToken.None);
            var options = new GuestVmOptions
            {
                Directory = Path.Combine(dir, "s"),
                KernelPath = kernel.KernelPath,
                InitrdPath = initrd,
                Workload = GuestCounter.Workload(),
                RootDisk = new QemuDrive(overlay, "qcow2"),
                MemoryMiB = 256,
            };
            var useStrata = (side == 0) == first;
            var move = useStrata ? await StrataMoveAsync(dir, options, new MigrationOptions(), withDisk: true) : await QemuDefaultMoveAsync(dir, options);
            (useStrata ? strata : baseline).Add(move);
            Console.WriteLine($"round {i + 1} {(useStrata ? "strata  " : "baseline")}: {move}; load {HostLoad.Now()}");
            Directory.Delete(dir, true);
        }
    }
    if (runs > 0)
    {
        Console.WriteLine($"idle 256 MiB guest, median of {runs}: strata (disk mirrored over NBD) {Move.Median(strata)}");
        Console.WriteLine($"                              baseline (QEMU defaults, shared disk) {Move.Median(baseline)}");
    }
    Console.WriteLine($"targets: downtime seen by the guest <= 300 ms, whole move <= 10 s; load {HostLoad.Now()}");

    // A guest that writes 5 MiB of random data every ~100 ms, cycling through 60 MiB of tmpfs so the pages are new to
    // each RAM pass (QEMU counts a page dirtied twice in a pass once): up to 50 MiB/s if the guest gets the CPU for it.
    // Over a 32 MiB/s link.
    const string dirtier = "dd if=/dev/urandom of=/tmp/src bs=1M count=5 2>/dev/null; "
        + "(k=0; while :; do dd if=/tmp/src of=/tmp/dst bs=1M count=5 seek=$((k*5)) conv=notrunc 2>/dev/null; k=$(((k+1)%12)); usleep 100000; done) &";
    foreach (var autoConverge in new[] { true, false })
    {
        var dir = Path.Combine(root, "dirty" + autoConverge);
        Directory.CreateDirectory(dir);
        var options = new GuestVmOptions
        {
            Directory = Path.Combine(dir, "s"),
            KernelPath = kernel.KernelPath,
            InitrdPath = initrd,
            Workload = GuestCounter.Workload(dirtier),
            MemoryMiB = 256,
        };
        var settings = new MigrationOptions { AutoConverge = autoConverge, MaxBandwidth = 32L << 20, Timeout = TimeSpan.FromSeconds(autoConverge ? 180 : 60) };
        try
        {
            var move = await StrataMoveAsync(dir, options, settings, withDisk: false);
            Console.WriteLine($"dirtying guest, auto-converge {(autoConverge ? "on " : "off")}: converged: {move}; load {HostLoad.Now()}");
        }
        catch (Strata.Contracts.StrataException e)
        {
            Console.WriteLine($"dirtying guest, auto-converge {(autoConverge ? "on " : "off")}: did not converge: {e.Message}; load {HostLoad.Now()}");
        }
        Directory.Delete(dir, true);
    }
}
finally
{
    Directory.Delete(root, true);
}

async Task<Move> StrataMoveAsync(string dir, GuestVmOptions options, MigrationOptions settings, bool withDisk)
{
    await using var source = await QemuVm.StartAsync(QemuVm.Plan(options), CancellationToken.None);
    await using var sourceTail = new CounterTail(source.LaunchPlan.StdoutPath);
    await sourceTail.WaitForLinesAsync(100, boot);
    var qmp = await source.GetQmpAsync(CancellationToken.None);
    var targetOptions = options with { Directory = Path.Combine(dir, "t") };
    var incomingDisks = new List<IncomingDisk>();
    if (withDisk)
    {
        var disk = (await LiveMigration.DescribeDisksAsync(qmp, CancellationToken.None)).Single();
        var path = Path.Combine(dir, "t", "disk." + disk.Format);
        incomingDisks.Add(new IncomingDisk(disk.Device, path, disk.Format, disk.SizeBytes));
        targetOptions = targetOptions with { RootDisk = new QemuDrive(path, disk.Format) };
    }
    var clock = Stopwatch.StartNew();
    var incoming = await IncomingVm.StartAsync(new IncomingRequest
    {
        Plan = QemuVm.Plan(targetOptions),
        Source = MachineIdentity.FromArgv(source.LaunchPlan.Argv),
        Disks = incomingDisks,
        Ram = MigrationChannel.Unix(Path.Combine(dir, "ram.sock")),
        Nbd = withDisk ? MigrationChannel.Unix(Path.Combine(dir, "nbd.sock")) : null,
    }, CancellationToken.None);
    await using var target = incoming.Vm;
    await using var targetTail = new CounterTail(target.LaunchPlan.StdoutPath);
    long maxDirty = 0;
    var progress = new Inline(p => maxDirty = Math.Max(maxDirty, p.DirtyRate));
    var result = await LiveMigration.MigrateAsync(qmp, incoming, settings, progress, CancellationToken.None);
    var total = clock.Elapsed;
    await targetTail.WaitForLinesAsync(30, TimeSpan.FromSeconds(60));
    var trace = CounterTrace.Of(sourceTail.Lines.TakeLast(100).ToList(), targetTail.Lines);
    if (!trace.Contiguous)
    {
        throw new InvalidOperationException($"the counter did not continue: source ended at {trace.LastOnSource}, target began at {trace.FirstOnTarget}");
    }
    // The mirror's byte count includes zero ranges, which travel as NBD write-zeroes commands; the data that really
    // went over is what the target's disk holds.
    long diskData = 0;
    foreach (var d in incomingDisks)
    {
        var info = await ExternalTool.RunAsync("qemu-img", ["info", "-U", "--output=json", d.Path], "qemu-utils", CancellationToken.None);
        diskData += System.Text.Json.JsonDocument.Parse(info.Stdout).RootElement.GetProperty("actual-size").GetInt64();
    }
    return new Move(trace.SwitchGap, trace.LargestGap, total, result.RamBytes, result.DiskBytes, diskData, result.QemuDowntime, maxDirty, result.MaxThrottlePercent);
}

async Task<Move> QemuDefaultMoveAsync(string dir, GuestVmOptions options)
{
    await using var source = await QemuVm.StartAsync(QemuVm.Plan(options), CancellationToken.None);
    await using var sourceTail = new CounterTail(source.LaunchPlan.StdoutPath);
    await sourceTail.WaitForLinesAsync(100, boot);
    var qmp = await source.GetQmpAsync(CancellationToken.None);
    var uri = "unix:" + Path.Combine(dir, "ram.sock");
    var clock = Stopwatch.StartNew();
    var plan = QemuVm.Plan(options with { Directory = Path.Combine(dir, "t") }); // The same disk: shared storage.
    await using var target = await QemuVm.StartAsync(plan with { Argv = [.. plan.Argv, "-incoming", uri] }, CancellationToken.None);
    var targetQmp = await target.GetQmpAsync(CancellationToken.None);
    await using var targetTail = new CounterTail(plan.StdoutPath);
    await qmp.ExecuteAsync("migrate", new JsonObject { ["uri"] = uri });
    long sent;
    TimeSpan downtime;
    while (true)
    {
        var info = await qmp.ExecuteAsync("query-migrate");
        var status = info.GetProperty("status").GetString();
        if (status == "completed")
        {
            sent = info.GetProperty("ram").GetProperty("transferred").GetInt64();
            downtime = TimeSpan.FromMilliseconds(info.GetProperty("downtime").GetInt64());
            break;
        }
        if (status is "failed" or "cancelled")
        {
            throw new InvalidOperationException($"baseline migration {status}: {info}");
        }
        await Task.Delay(10);
    }
    while ((await targetQmp.ExecuteAsync("query-status")).GetProperty("status").GetString() != "running")
    {
        await Task.Delay(10);
    }
    var total = clock.Elapsed;
    await targetTail.WaitForLinesAsync(30, TimeSpan.FromSeconds(60));
    var trace = CounterTrace.Of(sourceTail.Lines.TakeLast(100).ToList(), targetTail.Lines);
    return new Move(trace.SwitchGap, trace.LargestGap, total, sent, 0, 0, downtime, 0, 0);
}

internal sealed record Move(TimeSpan GuestDowntime, TimeSpan LargestGap, TimeSpan Total, long RamBytes, long DiskProcessed, long DiskData,
    TimeSpan QemuDowntime, long MaxDirtyRate, int MaxThrottle)
{
    public long BytesSent => RamBytes + DiskData;

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"guest downtime {GuestDowntime.TotalMilliseconds:0} ms (largest gap {LargestGap.TotalMilliseconds:0} ms), whole move {Total.TotalSeconds:0.00} s, sent {BytesSent / 1048576.0:0.0} MiB (RAM {RamBytes / 1048576.0:0.0}, disk data {DiskData / 1048576.0:0.0} of {DiskProcessed / 1048576.0:0} MiB mirrored), QEMU downtime {QemuDowntime.TotalMilliseconds:0} ms")
        + (MaxDirtyRate > 0 ? string.Create(CultureInfo.InvariantCulture, $", dirty rate up to {MaxDirtyRate / 1048576.0:0.0} MiB/s, throttle up to {MaxThrottle} %") : "");

    public static string Median(List<Move> moves)
    {
        static double M(IEnumerable<double> v)
        {
            var s = v.Order().ToList();
            return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
        }
        return string.Create(CultureInfo.InvariantCulture,
            $"guest downtime {M(moves.Select(m => m.GuestDowntime.TotalMilliseconds)):0} ms, whole move {M(moves.Select(m => m.Total.TotalSeconds)):0.00} s, sent {M(moves.Select(m => m.BytesSent / 1048576.0)):0.0} MiB, QEMU downtime {M(moves.Select(m => m.QemuDowntime.TotalMilliseconds)):0} ms");
    }
}

internal sealed class Inline(Action<MigrationProgress> onReport) : IProgress<MigrationProgress>
{
    public void Report(MigrationProgress value) => onReport(value);
}
