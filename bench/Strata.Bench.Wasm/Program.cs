using System.Diagnostics;
using System.Globalization;
using Strata.Client;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Drivers.Wasm;

// P3: a cached wasm module run through the API, with the process tier measured in the same run (A B A B ...).
//   dotnet run -c Release --project bench/Strata.Bench.Wasm -- SOCKET MODULE.wasm [RUNS]
// SOCKET is a running stratad. Also measures the driver alone (no API, no store) for the engine's share.
if (args.Length < 2)
{
    Console.Error.WriteLine("usage: Strata.Bench.Wasm SOCKET MODULE.wasm [RUNS]");
    return 2;
}
var socket = args[0];
var module = Path.GetFullPath(args[1]);
var runs = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 200;
using var client = new StrataClient(ClientOptions.FromEnvironment(socket));

// What `strata run --rm` does: one attached request that creates, starts, streams the output and the exit,
// and removes the instance when it has finished.
async Task<double> ApiRun(InstanceSpec spec)
{
    var sw = Stopwatch.StartNew();
    WaitResult? result = null;
    await foreach (var frame in client.RunAttachedAsync(spec with { AutoRemove = true }))
    {
        result = frame.Exit ?? result;
    }
    sw.Stop();
    if (result?.ExitCode != 0)
    {
        throw new InvalidOperationException($"{spec.Tier} run failed: {result?.State} {result?.Reason}");
    }
    return sw.Elapsed.TotalMilliseconds;
}

var wasmSpec = new InstanceSpec { Tier = "wasm", Image = module };
var processSpec = new InstanceSpec { Tier = "process", Command = ["/bin/true"] };
var processAvailable = true;
try
{
    await ApiRun(processSpec);
}
catch (Exception e)
{
    processAvailable = false;
    Console.WriteLine($"process tier not measured: {e.Message}");
}
for (var i = 0; i < 20; i++)
{
    await ApiRun(wasmSpec); // warm-up: compile once, JIT the daemon's paths
}

var wasm = new List<double>();
var process = new List<double>();
for (var i = 0; i < runs; i++)
{
    wasm.Add(await ApiRun(wasmSpec));
    if (processAvailable && i % 4 == 0)
    {
        process.Add(await ApiRun(processSpec));
    }
}

// Throughput: back-to-back runs from 4 concurrent clients for a fixed count.
var total = Math.Max(runs, 400);
var counter = 0;
var tp = Stopwatch.StartNew();
await Task.WhenAll(Enumerable.Range(0, 4).Select(async _ =>
{
    while (Interlocked.Increment(ref counter) <= total)
    {
        await ApiRun(wasmSpec);
    }
}));
tp.Stop();

// The driver alone: create + start + wait, no HTTP, no state store.
var root = Directory.CreateTempSubdirectory("strata-bench-wasm-").FullName;
using var driver = new WasmDriver(new WasmDriverOptions { CacheDirectory = Path.Combine(root, "cache") }, TimeProvider.System);
var driverTimes = new List<double>();
for (var i = 0; i < runs + 20; i++)
{
    var id = Guid.NewGuid().ToString("N");
    var dir = Directory.CreateDirectory(Path.Combine(root, id)).FullName;
    var sw = Stopwatch.StartNew();
    var handle = await driver.CreateAsync(new CreateRequest { InstanceId = id, Name = "b", Project = "default", Directory = dir, Spec = wasmSpec }, default);
    await driver.StartAsync(handle, default);
    await driver.WaitAsync(handle, default);
    sw.Stop();
    await driver.DeleteAsync(handle, default);
    if (i >= 20)
    {
        driverTimes.Add(sw.Elapsed.TotalMilliseconds);
    }
}
Directory.Delete(root, recursive: true);

Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}");
Report("wasm via API (strata run --rm: one attached request, 1 client)", wasm);
if (processAvailable)
{
    Report("process /bin/true via API (same run)", process);
}
Report("wasm driver only (no API, no store)", driverTimes);
Console.WriteLine($"wasm via API, 4 clients: {total} runs in {tp.Elapsed.TotalSeconds:0.00} s = {total / tp.Elapsed.TotalSeconds:0} runs/s");
return 0;

static void Report(string what, List<double> times)
{
    times.Sort();
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{what}: n={times.Count} min={times[0]:0.000} ms median={times[times.Count / 2]:0.000} ms p90={times[(int)(times.Count * 0.9)]:0.000} ms max={times[^1]:0.000} ms; {1000 / times[times.Count / 2]:0} runs/s sequential"));
}
