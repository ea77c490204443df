using System.Diagnostics;
using System.Globalization;
using Strata.Qemu.Qmp;
using Strata.Qemu.Templates;
using Strata.Qemu;
using Strata.Qemu.Guest;
using Strata.Qemu.Migration;

namespace Strata.Bench.Migration;

/// <summary>
/// <c>Strata.Bench.Migration pingpong [ROUNDS] [--nopti] [--burners N] [--verify]</c>: one cold-booted guest moved back and forth
/// between QEMUs on this host with <see cref="LiveMigration"/> (no daemons, the disk shared), its workload a busy shell
/// loop printing every 100th value of a counter. After every move the counter must only have gone up (a guest page
/// the move left stale, the shell's variable among them, shows as the counter going back) and the target's console
/// must hold no panic. <c>--nopti</c> adds <c>nopti</c> to the kernel line (TCG's default CPU reports an AMD vendor, so
/// the guest runs without page-table isolation anyway: 40 moves of a busy guest kept counting). <c>--verify</c> compares the guest RAM of both sides at every switchover, page by page (the target
/// held paused until then), which finds a lost write whether or not the guest later trips over it.
/// </summary>
internal static class RawPingPong
{
    private const string Busy = "i=0; while :; do i=$((i+1)); case $i in *00) echo $i;; esac; done";
    private static readonly string[] Alarms = ["Kernel panic", "BUG", "corruption", "Oops", "general protection"];

    public static async Task<int> RunAsync(string[] args)
    {
        var rounds = args.Length > 0 && int.TryParse(args[0], CultureInfo.InvariantCulture, out var r) ? r : 30;
        var nopti = args.Contains("--nopti");
        var verify = args.Contains("--verify");
        // --disk: the root disk is mirrored to a new file on the target over NBD (pause-before-switchover), as a daemon's move does.
        var withDisk = args.Contains("--disk");
        // --balloon: a balloon, its guest statistics polled every 200 ms on the side that runs the guest, as a daemon's sampler does.
        var balloon = args.Contains("--balloon");
        // --cancel-first: before each move, a move over 2 MiB/s is cancelled after 1.5 s (the source runs on), as the
        // move crash test's first step leaves a VM: the move under test is then the second migration out of that QEMU.
        var cancelFirst = args.Contains("--cancel-first");
        // --tb MiB: TCG's translated-code buffer, as a start from a template sets it (GuestTemplate.RestoreTcgCodeBufferMiB).
        var tbIndex = Array.IndexOf(args, "--tb");
        int? tb = tbIndex >= 0 ? int.Parse(args[tbIndex + 1], CultureInfo.InvariantCulture) : null;
        QmpClient? polled = null;
        using var stopPolling = new CancellationTokenSource();
        var polls = 0;
        var poller = !balloon ? Task.CompletedTask : Task.Run(async () =>
        {
            while (!stopPolling.IsCancellationRequested)
            {
                try
                {
                    if (Volatile.Read(ref polled) is { } q && await BalloonStats.FindAsync(q, stopPolling.Token) is { } path)
                    {
                        await BalloonStats.ReadAsync(q, path, stopPolling.Token);
                        Interlocked.Increment(ref polls);
                    }
                    await Task.Delay(200, stopPolling.Token);
                }
                catch (Exception e) when (e is not OperationCanceledException || !stopPolling.IsCancellationRequested)
                {
                    await Task.Delay(50);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        });
        var kargsIndex = Array.IndexOf(args, "--kargs");
        var kargs = string.Join(' ', new[] { nopti ? "nopti" : null, kargsIndex >= 0 ? args[kargsIndex + 1] : null }.OfType<string>());
        // --fork: the move tests' workload, a process forked and ended every 20 ms.
        // --restored anon|file: the guest is saved once and the moves start from a QEMU that restored it, as a start from a
        // template does: its RAM loaded from the state file into anonymous memory (the vm tier), or the saved guest's RAM
        // file mapped privately with x-ignore-shared (the sandbox tier); the targets get anonymous RAM.
        var restoredIndex = Array.IndexOf(args, "--restored");
        var restored = restoredIndex >= 0 ? args[restoredIndex + 1] : null;
        var script = args.Contains("--fork") ? "i=0; while :; do i=$((i+1)); echo $i; sleep 0.02; done" : Busy;
        var burnerIndex = Array.IndexOf(args, "--burners");
        var burners = burnerIndex >= 0 ? int.Parse(args[burnerIndex + 1], CultureInfo.InvariantCulture) : 0;
        var root = Directory.CreateTempSubdirectory("sbm-pp-").FullName;
        var loads = new List<Process>();
        QemuVm? current = null;
        CounterTail? tail = null;
        var failures = 0;
        var done = 0;
        try
        {
            var kernel = GuestKernel.Locate();
            var initrd = await new InitramfsBuilder(kernel).EnsureAsync(Path.Combine(root, "assets"), CancellationToken.None);
            var disks = new DiskBuilder(Path.Combine(root, "disks"));
            var baseImage = await disks.BuildExt4Async(GuestCounter.BuildRoot(Path.Combine(root, "rootfs")), "pp-root", 256L << 20, CancellationToken.None);
            var overlay = Path.Combine(root, "disk.qcow2");
            await disks.CreateOverlayAsync(baseImage, "raw", overlay, CancellationToken.None);
            var options = new GuestVmOptions
            {
                Directory = Path.Combine(root, "r0"),
                KernelPath = kernel.KernelPath,
                InitrdPath = initrd,
                Workload = new GuestWorkload(["sh", "-c", script]),
                RootDisk = new QemuDrive(overlay, "qcow2"),
                MemoryMiB = 256,
                ExtraKernelArguments = kargs.Length > 0 ? kargs : null,
                Balloon = balloon,
                TcgCodeBufferMiB = tb,
            };
            var memoryFile = Path.Combine(root, "memory");
            var boot = restored == "file" ? options with { ExtraQemuArguments = GuestTemplate.BootArguments(memoryFile, 256) } : options;
            current = await QemuVm.StartAsync(QemuVm.Plan(boot), CancellationToken.None);
            tail = new CounterTail(current.LaunchPlan.StdoutPath);
            await tail.WaitForLinesAsync(20, TimeSpan.FromSeconds(180));
            // The targets of a guest restored from a RAM file: the same memory backend id (the RAM block's name), anonymous.
            var moveOptions = restored == "file"
                ? options with { ExtraQemuArguments = ["-machine", "memory-backend=tmem", "-object", "memory-backend-ram,id=tmem,size=256M"] }
                : options;
            var state = Path.Combine(root, "state");
            if (restored is not null)
            {
                await GuestTemplate.SaveAsync(await current.GetQmpAsync(CancellationToken.None), state, CancellationToken.None);
                await tail.DisposeAsync();
                await current.DisposeAsync();
                current = null;
            }
            // Every round of a restored guest starts from a fresh restore: the move under test is the first out of it.
            async Task RestoreAsync(int round)
            {
                var restore = options with
                {
                    Directory = Path.Combine(root, "restored" + round.ToString(CultureInfo.InvariantCulture)),
                    ExtraQemuArguments = restored == "file" ? GuestTemplate.RestoreArguments(memoryFile, 256) : ["-incoming", "defer"],
                };
                current = await QemuVm.StartAsync(QemuVm.Plan(restore), CancellationToken.None);
                tail = new CounterTail(current.LaunchPlan.StdoutPath);
                await GuestTemplate.RestoreAsync(await current.GetQmpAsync(CancellationToken.None), state, CancellationToken.None);
                await tail.WaitForLinesAsync(20, TimeSpan.FromSeconds(180));
            }
            if (restored is not null)
            {
                await RestoreAsync(0);
            }
            Console.WriteLine($"guest up (kernel arguments '{kargs}', {script}, restored: {restored ?? "no, cold boot"}), {burners} burners, {rounds} moves; argv memory: {string.Join(' ', current!.LaunchPlan.Argv.SkipWhile(a => a != "-m").Take(2))}; load {HostLoad.Now()}");
            loads.AddRange(HostLoad.StartBurners(burners));
            for (var i = 1; i <= rounds; i++)
            {
                if (restored is not null && i > 1)
                {
                    await tail!.DisposeAsync();
                    await current!.DisposeAsync();
                    await RestoreAsync(i);
                }
                var qmp = await current!.GetQmpAsync(CancellationToken.None);
                Volatile.Write(ref polled, qmp);
                var targetOptions = moveOptions with { Directory = Path.Combine(root, "r" + i.ToString(CultureInfo.InvariantCulture)) };
                if (cancelFirst)
                {
                    var first = await IncomingVm.StartAsync(new IncomingRequest
                    {
                        Plan = QemuVm.Plan(moveOptions with { Directory = Path.Combine(root, "c" + i.ToString(CultureInfo.InvariantCulture)) }),
                        Source = MachineIdentity.FromArgv(current.LaunchPlan.Argv),
                        Ram = MigrationChannel.Unix(Path.Combine(root, $"cram{i}.sock")),
                    }, CancellationToken.None);
                    using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(1.5));
                    try
                    {
                        await LiveMigration.MigrateAsync(qmp, first, new MigrationOptions { MaxBandwidth = 2L << 20 }, null, cancel.Token);
                        Console.WriteLine("  the move to be cancelled completed first");
                    }
                    catch (Strata.Contracts.StrataException e) when (e.Kind == Strata.Contracts.ErrorKind.Cancelled)
                    {
                    }
                    await first.Vm.DisposeAsync();
                }
                var incomingDisks = new List<IncomingDisk>();
                if (withDisk)
                {
                    var disk = (await LiveMigration.DescribeDisksAsync(qmp, CancellationToken.None)).Single();
                    var path = Path.Combine(root, "disk" + i.ToString(CultureInfo.InvariantCulture) + "." + disk.Format);
                    incomingDisks.Add(new IncomingDisk(disk.Device, path, disk.Format, disk.SizeBytes));
                    targetOptions = targetOptions with { RootDisk = new QemuDrive(path, disk.Format) };
                }
                var plan = QemuVm.Plan(targetOptions);
                var incoming = await IncomingVm.StartAsync(new IncomingRequest
                {
                    // --verify: the target stays paused after the load (-S) until its RAM was compared with the source's.
                    Plan = verify ? SwitchoverRamCheck.Paused(plan) : plan,
                    Source = MachineIdentity.FromArgv(current.LaunchPlan.Argv),
                    Ram = MigrationChannel.Unix(Path.Combine(root, $"ram{i}.sock")),
                    Disks = incomingDisks,
                    Nbd = withDisk ? MigrationChannel.Unix(Path.Combine(root, $"nbd{i}.sock")) : null,
                }, CancellationToken.None);
                var targetTail = new CounterTail(incoming.Vm.LaunchPlan.StdoutPath);
                string outcome;
                try
                {
                    var checker = verify ? new SwitchoverRamCheck(incoming, qmp, GuestRam.Bytes(256), Path.Combine(root, "ram")) : null;
                    var result = await LiveMigration.MigrateAsync(qmp, (IMigrationTarget?)checker ?? incoming, new MigrationOptions(), null, CancellationToken.None);
                    await targetTail.WaitForLinesAsync(20, TimeSpan.FromSeconds(60));
                    var values = tail!.Lines.TakeLast(50).Concat(targetTail.Lines).Select(l => l.Value).ToList();
                    var back = values.Zip(values.Skip(1)).FirstOrDefault(p => p.Second <= p.First);
                    outcome = back != default
                        ? $"FAILED: the counter went back from {back.First} to {back.Second}"
                        : checker is { DifferingPages.Count: > 0 }
                            ? $"FAILED: {checker.DifferingPages.Count} pages of the target's RAM differ from the source's at the switchover: {checker.Describe()}"
                            : string.Create(CultureInfo.InvariantCulture, $"ok: QEMU downtime {result.QemuDowntime.TotalMilliseconds:0} ms, {result.Iterations} passes{(verify ? ", RAM identical" : "")}");
                }
                catch (Exception e) when (e is TimeoutException or InvalidOperationException or Strata.Contracts.StrataException)
                {
                    outcome = "FAILED: " + e.Message;
                }
                var panic = Panic(incoming.Vm.LaunchPlan.SerialLog);
                if (panic is not null && !outcome.StartsWith("FAILED", StringComparison.Ordinal))
                {
                    outcome = "FAILED: the guest panicked";
                }
                done++;
                Console.WriteLine($"move {i}: {outcome}; load {HostLoad.Now()}");
                if (panic is not null)
                {
                    Console.WriteLine(panic);
                }
                await tail!.DisposeAsync();
                await current.DisposeAsync();
                current = incoming.Vm;
                tail = targetTail;
                if (outcome.StartsWith("FAILED", StringComparison.Ordinal))
                {
                    failures++;
                    break;
                }
            }
            Console.WriteLine($"{done} moves, {failures} failed{(balloon ? $", {polls} balloon polls" : "")}; load {HostLoad.Now()}");
            return failures == 0 ? 0 : 1;
        }
        finally
        {
            await stopPolling.CancelAsync();
            await poller;
            await HostLoad.StopAsync(loads);
            if (tail is not null)
            {
                await tail.DisposeAsync();
            }
            if (current is not null)
            {
                await current.DisposeAsync();
            }
            Directory.Delete(root, true);
        }
    }

    private static string? Panic(string serialLog)
    {
        if (!File.Exists(serialLog))
        {
            return null;
        }
        var lines = File.ReadAllLines(serialLog);
        var first = Array.FindIndex(lines, l => Alarms.Any(a => l.Contains(a, StringComparison.Ordinal)));
        return first < 0 ? null : string.Join('\n', lines.Skip(first).Take(25));
    }

}
