using System.Diagnostics;
using System.Globalization;
using Strata.Bench.Core;
using Strata.Client;
using Strata.Node.Drivers.Sandbox;
using Strata.Qemu;
using Strata.Qemu.Guest;
using static Strata.Bench.Core.BenchStatistics;

namespace Strata.Bench.Sandbox;

/// <summary>
/// P5 (docs/sandbox.md, "Benchmark"): `strata run --rm --tier sandbox busybox -- /bin/true` (CLI → daemon →
/// supervisor → QEMU microvm, to the CLI's exit) against raw QEMU started directly with the same kernel,
/// initramfs, root disk (a fresh qcow2 overlay on the same cached ext4 base), accelerator and flags, to
/// QEMU's exit. Alternating A B, medians and ratio; the container and vm tiers run in the same rounds
/// (through the same CLI) for comparison, when this daemon has them.
/// Usage: Strata.Bench.Sandbox [--stratad PATH] [--strata PATH] [--supervisor PATH] [--allow-debug-build] [--rounds 7] [--sandbox-only] [--idle 3]
/// The binaries default to the published ones in artifacts/bin (scripts/publish-native.sh); the output names the build measured.
/// </summary>
internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        var cli = new BenchArgs(args);
        // The published build users run (artifacts/bin) unless told otherwise; a Debug stratad is refused unless asked for.
        if (MeasuredBuild.Resolve(cli, "stratad", "strata", "supervisor") is not [var stratad, var strata, var supervisor])
        {
            return 2;
        }
        var rounds = cli.Int("--rounds", 7);
        // --sandbox-only: the sandbox's own variants through the binaries measured (template, cold, raw QEMU both ways),
        // without the other tiers and the in-process driver (which is this bench's build, not the one measured): for
        // comparing two builds side by side.
        var sandboxOnly = cli.Has("--sandbox-only");

        var work = Directory.CreateTempSubdirectory("strata-bench-sb-").FullName;
        var root = Path.Combine(work, "root");
        var socket = Path.Combine(work, "s.sock");
        var start = new ProcessStartInfo(stratad)
        {
            ArgumentList = { "--root", root, "--socket", socket, "--supervisor", supervisor, "--no-docker-socket" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        var daemon = Process.Start(start)!;
        Environment.SetEnvironmentVariable("STRATA_SOCKET", socket); // for the CLI runs below
        _ = daemon.StandardOutput.ReadToEndAsync();
        _ = daemon.StandardError.ReadToEndAsync();
        try
        {
            using var client = new StrataClient(new ClientOptions { Socket = socket });
            var info = await TimedCommand.WaitForDaemonAsync(client, TimeSpan.FromSeconds(60));
            var tiers = info.Tiers.ToDictionary(t => t.Tier, t => t);
            Console.WriteLine($"host: {info.Host.Cpus} CPUs, kernel {info.Host.Kernel}, load {File.ReadAllText("/proc/loadavg").Trim()}");
            Console.WriteLine($"sandbox: {tiers["sandbox"].Reason}");
            TimedCommand.Run(strata, "image", "build-base", "busybox");

            // The raw baseline boots exactly what the daemon boots: its cached initramfs and base disk.
            var sandbox = () => TimedCommand.Run(strata, "run", "--rm", "--tier", "sandbox", "busybox", "--", "/bin/true");
            sandbox(); // builds the base disk and the initramfs
            var initrd = Directory.GetFiles(Path.Combine(root, "cache", "guest", "initramfs"), "*.cpio.gz").Single();
            var baseDisk = Directory.GetFiles(Path.Combine(root, "cache", "guest", "disks"), "*.ext4").Single();
            var kernel = GuestKernel.Locate();
            var accel = tiers["sandbox"].Reason.Contains("KVM (", StringComparison.Ordinal) ? Accelerators.Kvm : Accelerators.Tcg;
            var rawRuns = 0;
            var rawMarks = new List<SandboxGuestReport>();
            async Task<double> RawAsync()
            {
                var dir = Path.Combine(work, "raw" + rawRuns++.ToString(CultureInfo.InvariantCulture));
                Directory.CreateDirectory(dir);
                var sw = Stopwatch.StartNew();
                await new DiskBuilder(Path.Combine(work, "unused")).CreateOverlayAsync(baseDisk, "raw", Path.Combine(dir, "rootfs.qcow2"), CancellationToken.None);
                var plan = QemuVm.Plan(new GuestVmOptions
                {
                    Directory = dir,
                    KernelPath = kernel.KernelPath,
                    InitrdPath = initrd,
                    Workload = new GuestWorkload(["/bin/true"], new Dictionary<string, string> { ["PATH"] = GuestWorkload.DefaultPath }, "/"),
                    Accel = accel,
                    RootDisk = new QemuDrive(Path.Combine(dir, "rootfs.qcow2"), "qcow2"),
                    ExecSocket = Path.Combine(dir, "exec.sock"),
                }.WithFreePageReporting());
                await using var vm = await QemuVm.StartAsync(OwnSession.Of(plan), CancellationToken.None); // scheduled as the supervisor's QEMU is
                var exit = await vm.WaitAsync(TimeSpan.FromMinutes(2), CancellationToken.None);
                var ms = sw.Elapsed.TotalMilliseconds;
                if (exit.GuestExitCode != 0)
                {
                    throw new InvalidOperationException($"raw QEMU run failed: {exit.Reason}");
                }
                rawMarks.Add(SandboxGuestReport.Read(plan.ControlPath));
                return ms;
            }

            var others = new List<string>();
            foreach (var tier in sandboxOnly ? [] : new[] { "container", "vm" })
            {
                if (tiers.TryGetValue(tier, out var t) && t.Available)
                {
                    others.Add(tier);
                }
                else
                {
                    Console.WriteLine($"{tier}: not available here ({(tiers.TryGetValue(tier, out var u) ? u.Reason : "no driver in this build")}); left out");
                }
            }
            // Templates (docs/sandbox.md#templates): the first run above made busybox's; raw QEMU restores that very one.
            var template = TemplateBench.LocateTemplate(root);
            var cold = () => TimedCommand.Run(strata, "run", "--rm", "--no-template", "--tier", "sandbox", "busybox", "--", "/bin/true");
            var rawRestore = new RawQemuRestoreTarget(kernel.KernelPath, initrd, baseDisk, template, SandboxWorkload.DefaultMemoryMiB, accel, work, ["/bin/true"]);
            async Task<double> RawRestoreAsync() => (await rawRestore.RunOnceAsync(CancellationToken.None)).ExitMs;
            var results = new Dictionary<string, List<double>> { ["sandbox"] = [], ["raw"] = [], ["driver"] = [], ["cold"] = [], ["raw-restore"] = [] };
            using var phases = new DriverPhases(supervisor, root, work);
            if (!sandboxOnly)
            {
                await phases.RunAsync(); // warm-up
                phases.Clear();
            }
            foreach (var tier in others)
            {
                results[tier] = [];
                TimedCommand.Run(strata, "run", "--rm", "--tier", tier, "busybox", "--", "/bin/true"); // warm-up
            }
            await RawAsync(); // warm-up
            rawMarks.Clear();
            cold(); // warm-up
            await RawRestoreAsync(); // warm-up
            // Each round runs every variant once; the order rotates from round to round, so no variant always
            // follows the same one (a VM that just ended, a daemon still cleaning up) on a busy host.
            var variants = new List<(string Name, Func<Task<double>> Run)>
            {
                ("sandbox", () => Task.FromResult(sandbox())),
                ("raw", RawAsync),
                ("cold", () => Task.FromResult(cold())),
                ("raw-restore", RawRestoreAsync),
            };
            if (!sandboxOnly)
            {
                variants.Add(("driver", phases.RunAsync));
            }
            foreach (var tier in others)
            {
                variants.Add((tier, () => Task.FromResult(TimedCommand.Run(strata, "run", "--rm", "--tier", tier, "busybox", "--", "/bin/true"))));
            }
            for (var r = 0; r < rounds; r++)
            {
                for (var i = 0; i < variants.Count; i++)
                {
                    var (name, run) = variants[(i + r) % variants.Count];
                    results[name].Add(await run());
                }
            }
            var raw = Median(results["raw"]);
            Console.WriteLine($"P5 busybox /bin/true, {rounds} rounds alternating (order rotating), accelerator {accel.ToUpperInvariant()}, load at the end {File.ReadAllText("/proc/loadavg").Trim()}; ms min / median / max");
            var restore = Median(results["raw-restore"]);
            Console.WriteLine($"  {"strata run --rm --tier sandbox (template)",-36} {Describe(results["sandbox"])}   {Median(results["sandbox"]) / Median(results["cold"]):0.00}x cold, {Median(results["sandbox"]) / restore:0.00}x raw QEMU restore");
            Console.WriteLine($"  {"raw QEMU restoring the same template",-36} {Describe(results["raw-restore"])}");
            Console.WriteLine($"  {"strata run --rm --no-template (cold)",-36} {Describe(results["cold"])}   {Median(results["cold"]) / raw:0.00}x raw QEMU");
            Console.WriteLine($"  {"raw QEMU microvm (same kernel/initrd/disk)",-36} {Describe(results["raw"])}");
            if (!sandboxOnly)
            {
                Console.WriteLine($"  {"sandbox driver alone (no CLI/daemon)",-36} {Describe(results["driver"])}   {Median(results["driver"]) / raw:0.00}x raw QEMU");
            }
            foreach (var tier in others)
            {
                Console.WriteLine($"  {"strata run --rm --tier " + tier,-36} {Describe(results[tier])}   {Median(results[tier]) / raw:0.00}x raw QEMU");
            }
            var marks = rawMarks.Where(m => m.ExitSeconds is not null).ToList();
            if (marks.Count > 0)
            {
                Console.WriteLine($"  raw QEMU guest breakdown (median ms): kernel {Median(marks.Select(m => m.KernelSeconds!.Value * 1000).ToList()):0}"
                    + $"  init {Median(marks.Select(m => (m.WorkloadSeconds!.Value - m.KernelSeconds!.Value) * 1000).ToList()):0}"
                    + $"  workload {Median(marks.Select(m => (m.ExitSeconds!.Value - m.WorkloadSeconds!.Value) * 1000).ToList()):0}"
                    + $"  qemu start+exit {raw - Median(marks.Select(m => m.ExitSeconds!.Value * 1000).ToList()):0}");
            }
            if (!sandboxOnly)
            {
                phases.Print();
            }

            // Memory of idle sandboxes (QEMU + its supervisor), with and without templates, and what that means for density.
            var idle = cli.Int("--idle", 3);
            var pssTemplate = TemplateBench.IdlePss(strata, idle, noTemplate: false);
            var pssCold = TemplateBench.IdlePss(strata, idle, noTemplate: true);
            var available = File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemAvailable:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
            var availableBytes = long.Parse(available, CultureInfo.InvariantCulture) * 1024;
            foreach (var (label, pss) in new[]
            {
                ("from a template, idle", pssTemplate.Idle), ("from a template, after an exec", pssTemplate.AfterExec),
                ("cold boot, idle", pssCold.Idle), ("cold boot, after an exec", pssCold.AfterExec),
            })
            {
                var mib = pss.Select(b => b / 1048576.0).ToList();
                Console.WriteLine($"  idle sandbox PSS, {label,-31} {string.Join(" ", mib.Select(m => m.ToString("0.0", CultureInfo.InvariantCulture)))} MiB, median {Median(mib):0.0} MiB"
                    + $"  (density: {availableBytes / (Median(mib) * 1048576):0} more fit in the {availableBytes / 1073741824.0:0.0} GiB available now)");
            }
            return 0;
        }
        finally
        {
            daemon.Kill();
            await daemon.WaitForExitAsync();
            try
            {
                Directory.Delete(work, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>Where the time goes: the driver alone (no CLI, daemon, store or HTTP), phase by phase, with the guest's marks.</summary>
    private sealed class DriverPhases(string supervisor, string daemonRoot, string work) : IDisposable
    {
        private readonly SandboxDriver _driver = new(new SandboxDriverOptions
        {
            CacheDirectory = Path.Combine(daemonRoot, "cache", "guest"),
            Supervisor = supervisor,
        }, new Strata.Node.Images.ImageStoreResolver(new Strata.Images.ImageStore(Path.Combine(daemonRoot, "images"))));
        private readonly Dictionary<string, List<double>> _phases = new() { ["create"] = [], ["start"] = [], ["wait"] = [], ["delete"] = [] };
        private readonly List<SandboxGuestReport> _guest = [];

        public void Clear()
        {
            foreach (var list in _phases.Values)
            {
                list.Clear();
            }
            _guest.Clear();
        }

        public async Task<double> RunAsync()
        {
            var id = Guid.NewGuid().ToString("N");
            var dir = Path.Combine(work, "drv", id[..8]);
            Directory.CreateDirectory(dir);
            var total = Stopwatch.StartNew();
            var sw = Stopwatch.StartNew();
            var handle = await _driver.CreateAsync(new Strata.Contracts.Drivers.CreateRequest
            {
                InstanceId = id, Name = "b", Project = "default", Directory = dir,
                Spec = new Strata.Contracts.InstanceSpec { Tier = "sandbox", Image = "busybox", Args = ["/bin/true"] },
            }, CancellationToken.None);
            _phases["create"].Add(sw.Elapsed.TotalMilliseconds);
            sw.Restart();
            handle = await _driver.StartAsync(handle, CancellationToken.None);
            _phases["start"].Add(sw.Elapsed.TotalMilliseconds);
            sw.Restart();
            await _driver.WaitAsync(handle, CancellationToken.None);
            _phases["wait"].Add(sw.Elapsed.TotalMilliseconds);
            sw.Restart();
            await _driver.DeleteAsync(handle, CancellationToken.None);
            _phases["delete"].Add(sw.Elapsed.TotalMilliseconds);
            var ms = total.Elapsed.TotalMilliseconds;
            _guest.Add(SandboxGuestReport.Read(Path.Combine(dir, "control")));
            return ms;
        }

        public void Print()
        {
            Console.WriteLine("  driver phases (median ms): " + string.Join("  ", _phases.Select(p => $"{p.Key} {Median(p.Value):0}")));
            // A guest started from a template has no kernel mark (its boot happened once, when the template was made).
            var marks = _guest.Where(m => m.ExitSeconds is not null && m.KernelSeconds is not null && m.WorkloadSeconds is not null).ToList();
            if (marks.Count == 0)
            {
                // From a template: the guest's uptime when it read its setup line, started the workload and saw it end.
                var resumed = _guest.Where(m => m.SetupSeconds is not null && m.WorkloadSeconds is not null && m.ExitSeconds is not null).ToList();
                Console.WriteLine(resumed.Count == 0 ? "  driver guest breakdown: none"
                    : $"  driver guest breakdown from the template (median ms): setup line to workload {Median(resumed.Select(m => (m.WorkloadSeconds!.Value - m.SetupSeconds!.Value) * 1000).ToList()):0}"
                    + $"  workload {Median(resumed.Select(m => (m.ExitSeconds!.Value - m.WorkloadSeconds!.Value) * 1000).ToList()):0}");
                return;
            }
            Console.WriteLine($"  driver guest breakdown (median ms): kernel {Median(marks.Select(m => m.KernelSeconds!.Value * 1000).ToList()):0}"
                + $"  init {Median(marks.Select(m => (m.WorkloadSeconds!.Value - m.KernelSeconds!.Value) * 1000).ToList()):0}"
                + $"  workload {Median(marks.Select(m => (m.ExitSeconds!.Value - m.WorkloadSeconds!.Value) * 1000).ToList()):0}");
        }

        public void Dispose() => _driver.Dispose();
    }

    private static string Describe(List<double> values) =>
        string.Create(CultureInfo.InvariantCulture, $"{values.Min(),7:0} / {Median(values),7:0} / {values.Max(),7:0}");
}
