using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
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
/// must hold no panic. <c>--nopti</c> boots the guest without page-table isolation, so its TLB entries live long
/// under TCG: a move that loses writes made through the TCG TLB (QEMU before 9.0, see docs/move.md) is then caught
/// in a few rounds. <c>--verify</c> compares the guest RAM of both sides at every switchover, page by page (the target
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
            Console.WriteLine($"guest up (kernel arguments '{kargs}', {script}, restored: {restored ?? "no, cold boot"}), {burners} burners, {rounds} moves; argv memory: {string.Join(' ', current!.LaunchPlan.Argv.SkipWhile(a => a != "-m").Take(2))}; load {Load()}");
            for (var i = 0; i < burners; i++)
            {
                loads.Add(Process.Start(new ProcessStartInfo("sh") { ArgumentList = { "-c", "while :; do :; done" } })!);
            }
            for (var i = 1; i <= rounds; i++)
            {
                if (restored is not null && i > 1)
                {
                    await tail!.DisposeAsync();
                    await current!.DisposeAsync();
                    await RestoreAsync(i);
                }
                var qmp = await current!.GetQmpAsync(CancellationToken.None);
                var targetOptions = moveOptions with { Directory = Path.Combine(root, "r" + i.ToString(CultureInfo.InvariantCulture)) };
                var plan = QemuVm.Plan(targetOptions);
                var incoming = await IncomingVm.StartAsync(new IncomingRequest
                {
                    // --verify: the target stays paused after the load (-S) until its RAM was compared with the source's.
                    Plan = verify ? plan with { Argv = [.. plan.Argv, "-S"] } : plan,
                    Source = MachineIdentity.FromArgv(current.LaunchPlan.Argv),
                    Ram = MigrationChannel.Unix(Path.Combine(root, $"ram{i}.sock")),
                }, CancellationToken.None);
                var targetTail = new CounterTail(incoming.Vm.LaunchPlan.StdoutPath);
                string outcome;
                try
                {
                    var checker = new RamCheck(incoming, qmp, Path.Combine(root, "ram"), verify);
                    var result = await LiveMigration.MigrateAsync(qmp, checker, new MigrationOptions(), null, CancellationToken.None);
                    await targetTail.WaitForLinesAsync(20, TimeSpan.FromSeconds(60));
                    var values = tail!.Lines.TakeLast(50).Concat(targetTail.Lines).Select(l => l.Value).ToList();
                    var back = values.Zip(values.Skip(1)).FirstOrDefault(p => p.Second <= p.First);
                    outcome = back != default
                        ? $"FAILED: the counter went back from {back.First} to {back.Second}"
                        : checker.Differences.Count > 0
                            ? $"FAILED: {checker.Differences.Count} pages of the target's RAM differ from the source's at the switchover: {string.Join(", ", checker.Differences.Take(12).Select(p => "0x" + (p * 4096L).ToString("x", CultureInfo.InvariantCulture)))}"
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
                Console.WriteLine($"move {i}: {outcome}; load {Load()}");
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
            Console.WriteLine($"{done} moves, {failures} failed; load {Load()}");
            return failures == 0 ? 0 : 1;
        }
        finally
        {
            foreach (var p in loads)
            {
                p.Kill();
                await p.WaitForExitAsync();
                p.Dispose();
            }
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

    /// <summary>
    /// The target as <see cref="LiveMigration"/> sees it; with verification, its confirmation first dumps the guest RAM
    /// of both sides (the source stopped in postmigrate, the target paused after the load: both hold the switchover's
    /// memory) and lists the 4 KiB pages that differ, then lets the target run.
    /// </summary>
    private sealed class RamCheck(IncomingVm inner, QmpClient source, string dumps, bool verify) : IMigrationTarget
    {
        public List<long> Differences { get; } = [];
        public string RamUri => inner.RamUri;
        public MigrationChannel? Nbd => inner.Nbd;
        public IReadOnlyList<string> Disks => inner.Disks;
        public Task Exited => inner.Exited;
        public Task DiscardAsync() => inner.DiscardAsync();

        public async Task ConfirmRunningAsync(TimeSpan timeout, CancellationToken cancellationToken)
        {
            if (verify)
            {
                var target = await inner.Vm.GetQmpAsync(cancellationToken);
                while ((await target.ExecuteAsync("query-status", null, cancellationToken)).GetProperty("status").GetString() != "paused")
                {
                    await Task.Delay(10, cancellationToken);
                }
                Directory.CreateDirectory(dumps);
                var size = 256L << 20;
                var a = Path.Combine(dumps, "source");
                var b = Path.Combine(dumps, "target");
                await source.ExecuteAsync("pmemsave", new JsonObject { ["val"] = 0, ["size"] = size, ["filename"] = a }, cancellationToken);
                await target.ExecuteAsync("pmemsave", new JsonObject { ["val"] = 0, ["size"] = size, ["filename"] = b }, cancellationToken);
                var x = await File.ReadAllBytesAsync(a, cancellationToken);
                var y = await File.ReadAllBytesAsync(b, cancellationToken);
                for (var page = 0; page < size / 4096; page++)
                {
                    if (!x.AsSpan(page * 4096, 4096).SequenceEqual(y.AsSpan(page * 4096, 4096)))
                    {
                        Differences.Add(page);
                    }
                }
                File.Delete(a);
                File.Delete(b);
                await target.ExecuteAsync("cont", null, cancellationToken);
            }
            await inner.ConfirmRunningAsync(timeout, cancellationToken);
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

    private static string Load() => File.ReadAllText("/proc/loadavg").Split(' ')[0];
}
