using System.Diagnostics;
using System.Globalization;
using Strata.Client;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Drivers.Container;
using Strata.Node.Drivers.Wasm;

// P3: a cached wasm module run through the API (what `strata run --rm` does: one attached request that creates,
// starts, streams the output and the exit, and removes the instance), with the process and container tiers
// measured in the same run. Rounds alternate: a block of wasm runs, then one process and one container run.
//   dotnet run -c Release --project bench/Strata.Bench.Wasm -- SOCKET MODULE.wasm [RUNS]
// SOCKET is a running stratad. The container tier runs busybox /bin/true from a rootfs directory the bench builds
// (skipped with a note when busybox-static or the OCI runtime is missing). Also measured: the API's floor (an
// empty list request: HTTP over the unix socket + JSON, no instance) and the wasm driver alone (no API, no store).
if (args.Length < 2)
{
    Console.Error.WriteLine("usage: Strata.Bench.Wasm SOCKET MODULE.wasm [RUNS]");
    return 2;
}
var socket = args[0];
var module = Path.GetFullPath(args[1]);
var runs = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 400;
using var client = new StrataClient(ClientOptions.FromEnvironment(socket));
var work = Directory.CreateTempSubdirectory("strata-bench-wasm-").FullName;

// One attached run; returns the total time and when the first frame and the exit frame arrived.
async Task<(double Total, double First, double Exit)> ApiRun(InstanceSpec spec)
{
    var sw = Stopwatch.StartNew();
    double first = 0, exitAt = 0;
    WaitResult? result = null;
    var output = 0;
    await foreach (var frame in client.RunAttachedAsync(spec with { AutoRemove = true }))
    {
        if (first == 0)
        {
            first = sw.Elapsed.TotalMilliseconds;
        }
        output += frame.Log is not null ? 1 : 0;
        if (frame.Exit is not null)
        {
            result = frame.Exit;
            exitAt = sw.Elapsed.TotalMilliseconds;
        }
    }
    sw.Stop();
    if (result?.ExitCode != 0)
    {
        throw new InvalidOperationException($"{spec.Tier} run failed: {result?.State} {result?.Reason}");
    }
    if (spec.Tier == "wasm" && output == 0)
    {
        throw new InvalidOperationException("the wasm run printed nothing: give a module that writes to stdout, so output capture is measured");
    }
    return (sw.Elapsed.TotalMilliseconds, first, exitAt);
}

async Task<bool> Available(InstanceSpec spec)
{
    try
    {
        await ApiRun(spec);
        return true;
    }
    catch (Exception e)
    {
        Console.WriteLine($"tier {spec.Tier} not measured: {e.Message}");
        return false;
    }
}

var wasmSpec = new InstanceSpec { Tier = "wasm", Image = module };
var others = new List<InstanceSpec>();
var processSpec = new InstanceSpec { Tier = "process", Command = ["/bin/true"] };
if (await Available(processSpec))
{
    others.Add(processSpec);
}
if (OciRuntime.StaticBusybox() is { } busybox)
{
    var rootfs = Path.Combine(work, "busybox");
    BuildRootfs(busybox, rootfs);
    var containerSpec = new InstanceSpec { Tier = "container", Image = "dir:" + rootfs, Args = ["/bin/true"] };
    if (await Available(containerSpec))
    {
        others.Add(containerSpec);
    }
}
else
{
    Console.WriteLine("tier container not measured: busybox-static is not installed");
}
for (var i = 0; i < 50; i++)
{
    await ApiRun(wasmSpec); // warm-up: compile once, JIT the daemon's paths, park a run thread
    await client.ListAsync();
}

// One client, rounds of: 20 wasm runs, 20 empty list requests (the API's floor), one run of each other tier.
const int Block = 20;
var wasm = new List<(double Total, double First, double Exit)>();
var floor = new List<double>();
var other = others.ToDictionary(s => s.Tier!, _ => new List<double>());
while (wasm.Count < runs)
{
    for (var i = 0; i < Block; i++)
    {
        wasm.Add(await ApiRun(wasmSpec));
        var sw = Stopwatch.StartNew();
        await client.ListAsync();
        floor.Add(sw.Elapsed.TotalMilliseconds);
    }
    foreach (var spec in others)
    {
        other[spec.Tier!].Add((await ApiRun(spec)).Total);
        await Task.Delay(20); // lets that tier's supervisor exit before the next wasm block starts
    }
}

// Four clients, back to back, for a fixed count per tier.
async Task<double> Throughput(InstanceSpec spec, int total)
{
    var counter = 0;
    var sw = Stopwatch.StartNew();
    await Task.WhenAll(Enumerable.Range(0, 4).Select(async _ =>
    {
        while (Interlocked.Increment(ref counter) <= total)
        {
            await ApiRun(spec);
        }
    }));
    return total / sw.Elapsed.TotalSeconds;
}
var wasmTotal = Math.Max(runs, 1000);
var wasmRate = await Throughput(wasmSpec, wasmTotal);
var otherRates = new List<(string Tier, int Total, double Rate)>();
foreach (var spec in others)
{
    otherRates.Add((spec.Tier!, 40, await Throughput(spec, 40)));
}

// The driver alone: create + start + wait, no HTTP, no state store (an auto-removed run: output in memory).
using var driver = new WasmDriver(new WasmDriverOptions { CacheDirectory = Path.Combine(work, "cache") }, TimeProvider.System);
var driverTimes = new List<double>();
for (var i = 0; i < runs + 50; i++)
{
    var id = Guid.NewGuid().ToString("N");
    var sw = Stopwatch.StartNew();
    var handle = await driver.CreateAsync(new CreateRequest { InstanceId = id, Name = "b", Project = "default", Directory = Path.Combine(work, id), Spec = wasmSpec with { AutoRemove = true } }, default);
    await driver.StartAsync(handle, default);
    await driver.WaitAsync(handle, default);
    sw.Stop();
    await driver.DeleteAsync(handle, default);
    if (i >= 50)
    {
        driverTimes.Add(sw.Elapsed.TotalMilliseconds);
    }
}
Directory.Delete(work, recursive: true);

Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}; load average {LoadAverage()}");
Console.WriteLine("1 client:");
Report("  wasm via API (strata run --rm: one attached request)", [.. wasm.Select(w => w.Total)]);
Report("    of which: first frame arrived", [.. wasm.Select(w => w.First)]);
Report("    of which: exit frame arrived", [.. wasm.Select(w => w.Exit)]);
Report("  API floor (empty list request, same client)", floor);
foreach (var (tier, times) in other)
{
    Report($"  {tier} /bin/true via API (same rounds)", times);
}
Report("  wasm driver only (no API, no store)", driverTimes);
Console.WriteLine("4 clients:");
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  wasm via API: {wasmTotal} runs, {wasmRate:0} runs/s"));
foreach (var (tier, total, rate) in otherRates)
{
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {tier} /bin/true via API: {total} runs, {rate:0.0} runs/s"));
}
return 0;

static void Report(string what, List<double> times)
{
    times.Sort();
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{what}: n={times.Count} min={times[0]:0.000} ms median={times[times.Count / 2]:0.000} ms p90={times[(int)(times.Count * 0.9)]:0.000} ms max={times[^1]:0.000} ms"));
}

static string LoadAverage()
{
    try
    {
        return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
    }
    catch (IOException)
    {
        return "unknown";
    }
}

static void BuildRootfs(string busybox, string rootfs)
{
    var bin = Path.Combine(rootfs, "bin");
    Directory.CreateDirectory(bin);
    foreach (var d in new[] { "proc", "sys", "dev", "tmp", "etc", "root" })
    {
        Directory.CreateDirectory(Path.Combine(rootfs, d));
    }
    File.Copy(busybox, Path.Combine(bin, "busybox"));
    File.CreateSymbolicLink(Path.Combine(bin, "true"), "busybox");
    File.CreateSymbolicLink(Path.Combine(bin, "sh"), "busybox");
}
