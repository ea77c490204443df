using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Strata.Bench.Core;
using static Strata.Bench.Core.BenchStatistics;

// Foundation benchmark: the process tier end to end through the CLI, side by side with the same
// command run directly, alternating A B C A B C so machine noise hits all three alike.
//   dotnet run --project bench/Strata.Bench -c Release -- [--runs 30] [--bin artifacts/bin] [--json]
var runs = 30;
var bin = Path.Combine(FindRepoRoot(), "artifacts", "bin");
var json = false;
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--runs": runs = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--bin": bin = args[++i]; break;
        case "--json": json = true; break;
        default: Console.Error.WriteLine($"unknown option {args[i]}; use --runs N, --bin DIR, --json"); return 2;
    }
}
var cli = Path.Combine(bin, "strata");
var stratad = Path.Combine(bin, "stratad");
if (!File.Exists(cli) || !File.Exists(stratad))
{
    Console.Error.WriteLine($"{cli} or {stratad} is missing; run scripts/publish-native.sh first");
    return 1;
}

// Which build is measured (the published one unless --bin names another), on standard error so --json stays clean.
Console.Error.WriteLine(MeasuredBuild.Describe(allowDebug: true, ("stratad", stratad), ("strata", cli)));

var dir = Path.Combine("/tmp", "strata-bench-" + Guid.NewGuid().ToString("N")[..8]);
var socket = Path.Combine(dir, "s.sock");
using var daemon = Process.Start(new ProcessStartInfo(stratad, ["--root", Path.Combine(dir, "root"), "--socket", socket])
{
    RedirectStandardOutput = true,
    RedirectStandardError = true,
})!;
try
{
    var deadline = Stopwatch.StartNew();
    while (!Ready(cli, socket))
    {
        if (deadline.Elapsed > TimeSpan.FromSeconds(30))
        {
            Console.Error.WriteLine("stratad did not start");
            return 1;
        }
        Thread.Sleep(100);
    }

    string[] direct = ["/bin/true"];
    string[] viaStrata = ["run", "--rm", "--tier", "process", "--", "/bin/true"];
    string[] cliStart = ["version"];
    // Warm-up (JIT in the daemon, page cache).
    for (var i = 0; i < 3; i++)
    {
        Time("/bin/true", [], socket);
        Time(cli, viaStrata, socket);
    }
    var a = new List<double>();
    var b = new List<double>();
    var c = new List<double>();
    for (var i = 0; i < runs; i++)
    {
        a.Add(Time(direct[0], [], socket));
        b.Add(Time(cli, viaStrata, socket));
        c.Add(Time(cli, cliStart, socket));
    }
    var ratio = Median(b) / Median(a);
    var report = new Dictionary<string, object>
    {
        ["machine"] = $"{Environment.ProcessorCount} cores, {File.ReadAllText("/proc/sys/kernel/osrelease").Trim()}",
        ["runs"] = runs,
        ["direct_bin_true_ms"] = Stats(a),
        ["strata_run_rm_process_ms"] = Stats(b),
        ["strata_cli_startup_ms"] = Stats(c),
        ["ratio_strata_to_direct_median"] = Math.Round(ratio, 2),
        ["overhead_median_ms"] = Math.Round(Median(b) - Median(a), 2),
    };
    if (json)
    {
        Console.WriteLine(JsonSerializer.Serialize(report));
    }
    else
    {
        Console.WriteLine($"machine: {report["machine"]}; {runs} runs each, alternating");
        Console.WriteLine($"{"what",-44} {"min",8} {"median",8} {"max",8}");
        Row("/bin/true run directly", a);
        Row("strata run --rm --tier process -- /bin/true", b);
        Row("strata version (CLI start-up)", c);
        Console.WriteLine($"ratio strata/direct (medians): {ratio:F1}x; overhead {Median(b) - Median(a):F1} ms");
    }
    return 0;
}
finally
{
    daemon.Kill();
    daemon.WaitForExit();
    Directory.Delete(dir, recursive: true);
}

static double Time(string file, string[] args, string socket) =>
    TimedCommand.Run(file, new Dictionary<string, string> { ["STRATA_SOCKET"] = socket }, args);

static bool Ready(string cli, string socket)
{
    try
    {
        Time(cli, ["info"], socket);
        return true;
    }
    catch (InvalidOperationException)
    {
        return false;
    }
}

static Dictionary<string, double> Stats(List<double> xs) => new()
{
    ["min"] = Math.Round(xs.Min(), 2),
    ["median"] = Math.Round(Median(xs), 2),
    ["max"] = Math.Round(xs.Max(), 2),
};

static void Row(string what, List<double> xs) =>
    Console.WriteLine($"{what,-44} {xs.Min(),8:F1} {Median(xs),8:F1} {xs.Max(),8:F1}");

static string FindRepoRoot()
{
    for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
    {
        if (File.Exists(Path.Combine(d.FullName, "Strata.slnx")))
        {
            return d.FullName;
        }
    }
    return Directory.GetCurrentDirectory();
}
