using System.Diagnostics;
using System.Globalization;
using Strata.Bench.Core;
using Strata.Contracts;

namespace Strata.Bench.Migration;

/// <summary>
/// <c>Strata.Bench.Migration stress [ROUNDS] [BIN] [--burners N] [--tier vm|sandbox] [--no-template] [--script SH | --busy] [--bandwidth 4M] [--prefix P] [--fresh | --fresh-template]</c>: moves one
/// guest back and forth ROUNDS times between two published stratad while N busy loops (<c>sh -c 'while :; do :; done'</c>)
/// load the host, and after every move checks that the guest's counter went on on the target and that no guest
/// console (<c>serial.log</c>) of either daemon holds a kernel panic, BUG or list corruption. A guest whose memory
/// arrived inconsistent at the switchover panics there (docs/move.md, "Switchover"); this finds such a bug in minutes
/// where the test suite saw it a few times a day. Exit code 1 when any move failed or any console shows a panic.
/// </summary>
internal static class StressMoves
{
    private const string Name = "mvstress";
    private static readonly string[] Alarms = ["Kernel panic", "BUG", "corruption", "Oops", "general protection"];

    public static async Task<int> RunAsync(string[] args)
    {
        var positional = new List<string>();
        var burners = 3;
        var tier = "vm";
        var noTemplate = false;
        string? bandwidth = null;
        var prefix = "mvstress";
        var fresh = false;
        // --fresh-template: the template is deleted before every start, so each guest is the first start of a template
        // just made (the one failed move seen with this harness was such a start).
        var freshTemplate = false;
        // Ctrl-C ends the loop after the move under way, so the daemons and their guests are cleaned up.
        using var interrupted = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            interrupted.Cancel();
        };
        // The move tests' workload: a process forked and ended every few tens of ms (the guest allocates and frees
        // pages all the time, which init_on_free=1 zeroes), printing a counter.
        var script = "i=0; while :; do i=$((i+1)); echo $i; sleep 0.02; done";
        const string Busy = "i=0; while :; do i=$((i+1)); case $i in *000) echo $i;; esac; done";
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--burners": burners = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--tier": tier = args[++i]; break;
                case "--no-template": noTemplate = true; break;
                case "--script": script = args[++i]; break;
                case "--busy": script = Busy; break;
                case "--bandwidth": bandwidth = args[++i]; break;
                case "--prefix": prefix = args[++i]; break;
                case "--fresh": fresh = true; break;
                case "--fresh-template": fresh = freshTemplate = true; break;
                default: positional.Add(args[i]); break;
            }
        }
        var rounds = positional.Count > 0 ? int.Parse(positional[0], CultureInfo.InvariantCulture) : 40;
        var bin = positional.Count > 1 ? positional[1] : Environment.GetEnvironmentVariable("STRATA_BIN") ?? Path.GetFullPath("artifacts/bin");
        var work = Directory.CreateTempSubdirectory("mvstress-").FullName;
        var daemons = new List<DaemonMoves.Daemon>();
        var loads = new List<Process>();
        var failures = 0;
        var done = 0;
        try
        {
            daemons.Add(await DaemonMoves.Daemon.StartAsync(bin, Path.Combine(work, "a"), prefix + "a"));
            daemons.Add(await DaemonMoves.Daemon.StartAsync(bin, Path.Combine(work, "b"), prefix + "b"));
            await daemons[0].Client.BuildBaseImageAsync("busybox");
            var spec = new InstanceSpec
            {
                Name = Name, Tier = tier, Image = "busybox:latest", Args = ["sh", "-c", script],
                Resources = new ResourceSpec { MemoryBytes = 256L << 20 }, NoTemplate = noTemplate,
            };
            await StartGuestAsync(daemons[0], spec);
            var info = await daemons[0].Client.GetAsync(Name);
            Console.WriteLine($"{tier} {Name} (bandwidth {bandwidth ?? "unlimited"}, {(noTemplate ? "cold boot" : "template start")}: {info.Details?.GetValueOrDefault("template") ?? "?"}), {burners} burners, {rounds} moves; load {HostLoad.Now()}");
            loads.AddRange(HostLoad.StartBurners(burners));
            for (var i = 0; i < rounds && !interrupted.IsCancellationRequested; i++)
            {
                var (from, to) = fresh || i % 2 == 0 ? (daemons[0], daemons[1]) : (daemons[1], daemons[0]);
                if (fresh && i > 0)
                {
                    // Every move is the first out of a QEMU that started from the template.
                    await daemons[1].Client.DeleteAsync(Name, force: true);
                    if (freshTemplate)
                    {
                        foreach (var kind in new[] { "templates", "vm-templates" })
                        {
                            var store = Path.Combine(daemons[0].Root, "cache", "guest", kind);
                            foreach (var t in Directory.Exists(store) ? Directory.GetDirectories(store) : [])
                            {
                                Directory.Delete(t, true);
                            }
                        }
                    }
                    await StartGuestAsync(daemons[0], spec);
                }
                string outcome;
                try
                {
                    var (move, result) = await MigrationBench.MoveAsync(from.Side, to.Side, Name, bandwidth, i + 1);
                    outcome = string.Create(CultureInfo.InvariantCulture,
                        $"ok: guest gap {move.GuestDowntimeMs:0} ms, QEMU downtime {result.DowntimeMs:0} ms, {result.Iterations} passes, throttle {result.MaxThrottlePercent} %, {move.WholeMoveSeconds:0.0} s");
                }
                catch (InvalidOperationException e)
                {
                    outcome = "FAILED: " + e.Message;
                    failures++;
                }
                done++;
                if (!outcome.StartsWith("FAILED", StringComparison.Ordinal))
                {
                    // The log goes with the guest: the whole counter, before and after the switch, is on the target. A
                    // page the move left stale (the shell's variable) shows as the counter going back.
                    var values = (await MigrationBench.LinesAsync(to.Client, Name)).Select(l => l.Value).ToList();
                    var back = values.Zip(values.Skip(1)).FirstOrDefault(p => p.Second <= p.First);
                    if (back != default)
                    {
                        outcome = $"FAILED: the counter went back from {back.First} to {back.Second} ({values.Count} lines)";
                        failures++;
                    }
                }
                var panic = Panics(work);
                Console.WriteLine($"move {i + 1} {from.Node} -> {to.Node}: {outcome}; load {HostLoad.Now()}");
                if (panic.Count > 0 || outcome.StartsWith("FAILED", StringComparison.Ordinal))
                {
                    if (panic.Count > 0 && !outcome.StartsWith("FAILED", StringComparison.Ordinal))
                    {
                        failures++;
                    }
                    foreach (var line in panic)
                    {
                        Console.WriteLine("  " + line);
                    }
                    break;
                }
            }
            Console.WriteLine($"{done} moves, {failures} failed; load {HostLoad.Now()}");
            return failures == 0 ? 0 : 1;
        }
        finally
        {
            await HostLoad.StopAsync(loads);
            foreach (var d in daemons)
            {
                await d.DisposeAsync();
            }
            if (Environment.GetEnvironmentVariable("MVSTRESS_KEEP") is null)
            {
                Directory.Delete(work, true);
            }
            else
            {
                Console.WriteLine($"kept {work}");
            }
        }
    }

    /// <summary>Creates the guest on <paramref name="daemon"/> and waits until its counter printed 50 lines.</summary>
    private static async Task StartGuestAsync(DaemonMoves.Daemon daemon, InstanceSpec spec)
    {
        await daemon.Client.CreateAsync(spec);
        var started = Stopwatch.StartNew();
        while ((await MigrationBench.LinesAsync(daemon.Client, Name)).Count < 50)
        {
            if (started.Elapsed > TimeSpan.FromMinutes(3))
            {
                throw new InvalidOperationException("the guest's counter never started");
            }
            await Task.Delay(200);
        }
    }

    /// <summary>The consoles under <paramref name="work"/> that hold a panic: the file and its first 30 lines from the first alarm on.</summary>
    private static List<string> Panics(string work)
    {
        var found = new List<string>();
        foreach (var file in Directory.EnumerateFiles(work, "serial.log", SearchOption.AllDirectories))
        {
            string[] lines;
            try
            {
                lines = File.ReadAllLines(file);
            }
            catch (IOException)
            {
                continue;
            }
            var first = Array.FindIndex(lines, l => Alarms.Any(a => l.Contains(a, StringComparison.Ordinal)));
            if (first >= 0)
            {
                found.Add(file + ":");
                found.AddRange(lines.Skip(Math.Max(0, first - 2)).Take(30));
            }
        }
        return found;
    }

}
