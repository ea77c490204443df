// P4 and P5-T on the vm tier: boot to first guest output of an OCI VM, four ways in the same rounds, the order rotating
// each round: Strata from the image's template (a VM's first start), Strata cold (--no-template), raw QEMU with the
// cold start's argv, and raw QEMU restoring the same template with the template start's argv (-incoming defer, the
// state loaded over QMP, the parameters on the setup port, as the driver does). Medians and ratios.
// Usage: Strata.Bench.Vm [RUNS] [SUPERVISOR] [--allow-debug-build]
// The vm driver runs in this process: run it with -c Release (the build users run); the output names the build measured.
using System.Diagnostics;
using System.Text.Json;
using Strata.Bench.Core;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Contracts.Host;
using Strata.Images;
using Strata.Node.Drivers.Vm;
using Strata.Node.Logs;
using Strata.Qemu;
using Strata.Qemu.Qmp;
using Strata.Qemu.Templates;

var allowDebug = args.Contains("--allow-debug-build");
args = [.. args.Where(a => a != "--allow-debug-build")];
var runs = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 5;
var supervisor = args.Length > 1 ? args[1] : Path.Combine(AppContext.BaseDirectory, "strata-supervisor");
try
{
    Console.WriteLine(MeasuredBuild.Describe(allowDebug, ("supervisor", supervisor)) + "\n" + MeasuredBuild.DescribeInProcess(allowDebug, "vm driver", typeof(VmDriver).Assembly.Location));
}
catch (InvalidOperationException e)
{
    Console.Error.WriteLine(e.Message);
    Environment.Exit(2);
}
var root = Directory.CreateTempSubdirectory("strata-bench-vm-").FullName;
var cache = Path.Combine(Path.GetTempPath(), "strata-vm-tests-cache");
try
{
    var images = new ImageStore(Path.Combine(root, "images"));
    await images.BuildBusyboxBaseAsync("busybox:latest");
    using var driver = new VmDriver(new VmDriverOptions { CacheDirectory = cache, Supervisor = supervisor }, images);
    var fingerprint = await driver.FingerprintAsync(CancellationToken.None);
    Console.WriteLine($"vm tier: {fingerprint.Reason}");
    var spec = new InstanceSpec { Name = "bench", Image = "busybox:latest", Args = ["echo", "first-output"] };

    // Warm-up (not counted): makes the template if there is none, and warms the page cache for every side.
    var warm = await RunStrataAsync(driver, root, "warm", spec, []);
    Console.WriteLine($"warm-up: {warm.Note}");
    var key = warm.Note.StartsWith("template ", StringComparison.Ordinal) ? warm.Note.Split(' ')[1]
        : throw new InvalidOperationException("the warm-up did not start from a template: " + warm.Note);
    var restore = RestoreOf(warm.Dir, Path.Combine(cache, "vm-templates", key, GuestTemplate.StateFileName));

    var times = new Dictionary<string, List<double>> { ["template"] = [], ["cold"] = [], ["raw-cold"] = [], ["raw-restore"] = [] };
    var sides = times.Keys.ToArray();
    for (var i = 0; i < runs; i++)
    {
        // The order rotates each round, so no side always runs on the warmest cache.
        var order = sides.Skip(i % sides.Length).Concat(sides.Take(i % sides.Length)).ToArray();
        string? coldDir = null;
        foreach (var side in order)
        {
            switch (side)
            {
                case "template":
                    var t = await RunStrataAsync(driver, root, "t" + i, spec, times[side]);
                    if (!t.Note.StartsWith("template ", StringComparison.Ordinal))
                    {
                        throw new InvalidOperationException("the template start was not one: " + t.Note);
                    }
                    break;
                case "cold":
                    var c = await RunStrataAsync(driver, root, "c" + i, spec with { NoTemplate = true }, times[side]);
                    coldDir ??= c.Dir;
                    break;
                case "raw-cold":
                    // The cold start's argv: from this round's cold VM when it ran already, else from one made for it.
                    coldDir ??= await PrepareAsync(driver, root, "p" + i, spec with { NoTemplate = true });
                    await RunRawAsync(coldDir, ReadArgv(coldDir), null, times[side]);
                    break;
                case "raw-restore":
                    // The warm-up VM's directory and argv (-incoming defer), on a fresh overlay each time.
                    await RunRawAsync(warm.Dir, ReadArgv(warm.Dir), restore, times[side]);
                    break;
            }
        }
        Console.WriteLine($"round {i + 1} ({string.Join(" → ", order)}): " + string.Join(", ", sides.Select(s => $"{s} {times[s][^1]:0} ms")));
    }
    double M(string s) => BenchStatistics.Median(times[s]);
    Console.WriteLine($"median boot to first guest output over {runs} rounds: template {M("template"):0} ms, cold {M("cold"):0} ms, raw QEMU cold {M("raw-cold"):0} ms, raw QEMU restore {M("raw-restore"):0} ms");
    Console.WriteLine($"  template / cold {M("template") / M("cold"):0.000} (target <= 0.15), template / raw restore {M("template") / M("raw-restore"):0.000} (target <= 1.2), cold / raw cold {M("cold") / M("raw-cold"):0.000} (P4 target <= 1.05)");
    foreach (var s in sides)
    {
        Console.WriteLine($"  {s,-12} min {times[s].Min():0} / median {M(s):0} / max {times[s].Max():0} ms");
    }

    // Idle memory: two VMs from the template and one cold, side by side, PSS of QEMU once they idled for 10 s.
    var idle = new InstanceSpec { Name = "bench", Image = "busybox:latest", Args = ["sh", "-c", "echo idle; exec sleep 600"] };
    var running = new List<(string Side, DriverHandle Handle)>();
    foreach (var (side, i) in new[] { ("template", 0), ("template", 1), ("cold", 2) })
    {
        var dir = Path.Combine(root, "idle" + i);
        Directory.CreateDirectory(dir);
        var h = await driver.CreateAsync(new CreateRequest { InstanceId = "idle" + i, Name = "bench", Project = "default", Directory = dir, Spec = idle with { NoTemplate = side == "cold" } }, CancellationToken.None);
        running.Add((side, await driver.StartAsync(h, CancellationToken.None)));
    }
    await Task.Delay(TimeSpan.FromSeconds(10));
    Console.WriteLine("idle PSS per VM (QEMU): " + string.Join(", ", running.Select(r => $"{r.Side} {Pss(r.Handle.Pid ?? 0):0.0} MiB")));
    foreach (var (_, h) in running)
    {
        await driver.KillAsync(h, 9, CancellationToken.None);
        await driver.WaitAsync(h, CancellationToken.None);
        await driver.DeleteAsync(h, CancellationToken.None);
    }
}
finally
{
    Directory.Delete(root, true);
}

static double Pss(int pid) => File.ReadLines($"/proc/{pid}/smaps_rollup").Where(l => l.StartsWith("Pss:", StringComparison.Ordinal))
    .Sum(l => double.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture)) / 1024;

// Creates and starts a VM, timed from the start to the first stdout record in its CRI log; waits for its end.
static async Task<(string Dir, string Note)> RunStrataAsync(VmDriver driver, string root, string id, InstanceSpec spec, List<double> times)
{
    var dir = Path.Combine(root, id);
    Directory.CreateDirectory(dir);
    var handle = await driver.CreateAsync(new CreateRequest { InstanceId = id, Name = "bench", Project = "default", Directory = dir, Spec = spec }, CancellationToken.None);
    var sw = Stopwatch.StartNew();
    handle = await driver.StartAsync(handle, CancellationToken.None);
    var returned = sw.Elapsed.TotalMilliseconds;
    while (!CriLogReader.ReadTail(LogFiles.LogDirectory(dir), null).Any(r => r.Stream == "stdout"))
    {
        await Task.Delay(2);
    }
    times.Add(sw.Elapsed.TotalMilliseconds);
    Console.WriteLine($"    {id}: the driver's start returned after {returned:0} ms, first output at {times[^1]:0} ms");
    await driver.WaitAsync(handle, CancellationToken.None);
    return (dir, handle.Data.TryGetValue("template", out var note) ? note : "");
}

// A created (not started) VM whose supervisor.json holds its cold argv, so raw QEMU can go first.
static async Task<string> PrepareAsync(VmDriver driver, string root, string id, InstanceSpec spec)
{
    var dir = Path.Combine(root, id);
    Directory.CreateDirectory(dir);
    var handle = await driver.CreateAsync(new CreateRequest { InstanceId = id, Name = "bench", Project = "default", Directory = dir, Spec = spec }, CancellationToken.None);
    File.WriteAllText(Path.Combine(dir, "supervisor.json"), JsonSerializer.Serialize(new Dictionary<string, IReadOnlyList<string>> { ["argv"] = VmDriver.PlanArgv(handle) }));
    return dir;
}

static IReadOnlyList<string> ReadArgv(string dir)
{
    using var config = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir, "supervisor.json")));
    return config.RootElement.GetProperty("argv").EnumerateArray().Select(e => e.GetString()!).ToList();
}

// The template start's setup words (vm.json) with the template's state file.
static (string State, string Words) RestoreOf(string dir, string state)
{
    using var vm = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir, "vm.json")));
    return (state, vm.RootElement.GetProperty("guestWords").GetString()!);
}

// Raw QEMU with the given argv in the instance's directory, on a fresh overlay, timed to the first byte on its stdout
// (the guest's stdout port). With a restore: the state is loaded over QMP and the setup line sent, as the driver does.
static async Task RunRawAsync(string dir, IReadOnlyList<string> argv, (string State, string Words)? restore, List<double> times)
{
    using var vm = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir, "vm.json")));
    var overlay = Path.Combine(dir, "disk.qcow2");
    File.Delete(overlay);
    var made = await HostTool.RunAsync("qemu-img", ["create", "-q", "-f", "qcow2", "-F", "raw", "-b", vm.RootElement.GetProperty("baseDisk").GetString()!, overlay]);
    if (!made.Succeeded)
    {
        throw new InvalidOperationException(made.Error);
    }
    foreach (var stale in new[] { "control", "qmp.sock", "exec.sock", GuestTemplate.SetupSocketName, "console.sock", "serial.log" })
    {
        File.Delete(Path.Combine(dir, stale));
    }
    argv = OwnSession.Argv(argv); // a session of its own, as the supervisor gives Strata's QEMU (the CPU is shared per session)
    var psi = new ProcessStartInfo(argv[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = dir };
    foreach (var a in argv.Skip(1))
    {
        psi.ArgumentList.Add(a);
    }
    var sw = Stopwatch.StartNew();
    using var qemu = Process.Start(psi)!;
    var stderr = qemu.StandardError.ReadToEndAsync();
    var first = qemu.StandardOutput.ReadAsync(new char[1]).AsTask();
    if (restore is { } r)
    {
        var qmp = await QmpClient.ConnectAsync(Path.Combine(dir, "qmp.sock"), TimeSpan.FromSeconds(10), CancellationToken.None);
        await using (qmp)
        {
            await GuestTemplate.RestoreAsync(qmp, r.State, CancellationToken.None);
        }
        await GuestTemplate.SendSetupAsync(Path.Combine(dir, GuestTemplate.SetupSocketName), GuestTemplate.SetupLine(r.Words, DateTimeOffset.UtcNow), TimeSpan.FromSeconds(30), CancellationToken.None);
    }
    await first;
    times.Add(sw.Elapsed.TotalMilliseconds);
    await qemu.StandardOutput.ReadToEndAsync();
    await qemu.WaitForExitAsync();
    _ = await stderr;
}
