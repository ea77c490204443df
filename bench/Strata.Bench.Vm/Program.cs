// P4: boot to first guest output, Strata's vm tier against raw QEMU with the same argv (same kernel, initrd,
// disk overlay, flags), alternating, medians. Usage: Strata.Bench.Vm [RUNS] [SUPERVISOR] [--allow-debug-build]
// The vm driver runs in this process: run it with -c Release (the build users run); the output names the build measured.
using System.Diagnostics;
using System.Text.Json;
using Strata.Bench.Core;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Images;
using Strata.Node.Drivers.Vm;
using Strata.Node.Logs;

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
try
{
    var images = new ImageStore(Path.Combine(root, "images"));
    await images.BuildBusyboxBaseAsync("busybox:latest");
    using var driver = new VmDriver(new VmDriverOptions
    {
        CacheDirectory = Path.Combine(Path.GetTempPath(), "strata-vm-tests-cache"),
        Supervisor = supervisor,
    }, images);
    var fingerprint = await driver.FingerprintAsync(CancellationToken.None);
    Console.WriteLine($"vm tier: {fingerprint.Reason}");
    var spec = new InstanceSpec { Name = "bench", Image = "busybox:latest", Args = ["echo", "first-output"] };

    var strata = new List<double>();
    var raw = new List<double>();
    for (var i = 0; i < runs; i++)
    {
        var dir = Path.Combine(root, "i" + i);
        Directory.CreateDirectory(dir);
        var handle = await driver.CreateAsync(new CreateRequest { InstanceId = "i" + i, Name = "bench", Project = "default", Directory = dir, Spec = spec }, CancellationToken.None);
        // The order alternates each round (ABBA), so neither side always runs on the warmer page cache.
        if (i % 2 == 0)
        {
            handle = await RunStrataAsync(driver, handle, dir, strata);
            await RunRawAsync(dir, raw);
        }
        else
        {
            var created = handle;
            await RunRawAsync(Prepare(dir, created), raw);
            handle = await RunStrataAsync(driver, handle, dir, strata);
        }
        await driver.DeleteAsync(handle, CancellationToken.None);
        Console.WriteLine($"round {i + 1} ({(i % 2 == 0 ? "strata first" : "raw first")}): strata {strata[^1]:0} ms, raw qemu {raw[^1]:0} ms");
    }
    var ms = BenchStatistics.Median(strata);
    var mr = BenchStatistics.Median(raw);
    Console.WriteLine($"median boot to first guest output: strata {ms:0} ms, raw qemu {mr:0} ms, ratio {ms / mr:0.000} (target <= 1.05), {runs} alternating rounds");
}
finally
{
    Directory.Delete(root, true);
}

static async Task<DriverHandle> RunStrataAsync(VmDriver driver, DriverHandle handle, string dir, List<double> times)
{
    var sw = Stopwatch.StartNew();
    handle = await driver.StartAsync(handle, CancellationToken.None);
    while (!CriLogReader.ReadTail(LogFiles.LogDirectory(dir), null).Any(r => r.Stream == "stdout"))
    {
        await Task.Delay(2);
    }
    times.Add(sw.Elapsed.TotalMilliseconds);
    await driver.WaitAsync(handle, CancellationToken.None);
    return handle;
}

// The argv the supervisor runs (from the config it reads); for a raw-first round it is taken from the plan below.
static async Task RunRawAsync(string dir, List<double> times)
{
    using var config = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir, "supervisor.json")));
    var argv = config.RootElement.GetProperty("argv").EnumerateArray().Select(e => e.GetString()!).ToList();
    File.Delete(Path.Combine(dir, "control"));
    File.Delete(Path.Combine(dir, "qmp.sock"));
    File.Delete(Path.Combine(dir, "exec.sock"));
    var psi = new ProcessStartInfo(argv[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = dir };
    foreach (var a in argv.Skip(1))
    {
        psi.ArgumentList.Add(a);
    }
    var sw = Stopwatch.StartNew();
    using var qemu = Process.Start(psi)!;
    var buffer = new char[1];
    await qemu.StandardOutput.ReadAsync(buffer);
    times.Add(sw.Elapsed.TotalMilliseconds);
    await qemu.StandardOutput.ReadToEndAsync();
    await qemu.WaitForExitAsync();
}

// Writes supervisor.json with the instance's argv without starting anything, so raw QEMU can go first.
static string Prepare(string dir, DriverHandle handle)
{
    var argv = VmDriver.PlanArgv(handle);
    File.WriteAllText(Path.Combine(dir, "supervisor.json"), JsonSerializer.Serialize(new Dictionary<string, IReadOnlyList<string>> { ["argv"] = argv }));
    return dir;
}

