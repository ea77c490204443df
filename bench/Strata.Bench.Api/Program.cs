using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Strata.Bench.Core;
using Strata.Client;
using Strata.Contracts;

namespace Strata.Bench.Api;

/// <summary>
/// P8 (docs/SPECIFICATION.md): listing many instances through the API, and the daemon's memory per 1,000 instances (P7).
/// Starts the published <c>stratad</c> on a temporary root with the in-memory fake tier, creates N instances (created,
/// not started), then times, alternating A B C so drift hits all alike:
///   A <c>GET /v1/instances</c> over the unix socket, body read as bytes (the list: the work and the transport);
///   B <c>GET /v1/info</c> (the floor of one request: HTTP over the unix socket, routing, authentication);
///   C the same list serialised in this process with the API's JSON context into a buffer (the JSON work alone, no HTTP).
/// Also the typed client's <c>ListAsync</c> (what <c>strata ps --json</c> does: the request plus parsing the list).
/// With <c>--compare PATH</c> a second stratad (e.g. the build before a change) gets the same instances and its list is
/// timed in the same rounds, alternating with the first.
/// Then <c>strata ps -a</c> (the table a user reads) against <c>strata ps -a --json</c> on the same list, alternating.
/// Usage: Strata.Bench.Api [--stratad PATH] [--strata PATH] [--compare PATH] [--allow-debug-build] [--instances 10000] [--runs 30]
///   [--parallel 8] [--cli-runs 10]
/// The daemon and CLI default to the published ones in artifacts/bin (scripts/publish-native.sh); the output names the build measured.
/// </summary>
internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        var cli = new BenchArgs(args);
        if (MeasuredBuild.Resolve(cli, "stratad", "strata") is not [var stratad, var strata])
        {
            return 2;
        }
        var count = cli.Int("--instances", 10000);
        var runs = cli.Int("--runs", 30);
        var parallel = cli.Int("--parallel", 8);
        var cliRuns = cli.Int("--cli-runs", 10);
        const string listPath = "v1/instances";
        Console.WriteLine($"machine: {Environment.ProcessorCount} CPUs, load {File.ReadAllText("/proc/loadavg").Trim()}");

        var compare = cli.Get("--compare", "") is { Length: > 0 } other ? Path.GetFullPath(other) : null;
        if (compare is not null)
        {
            Console.WriteLine($"  compared with {compare} ({MeasuredBuild.Configuration(compare)}), alternating in the same rounds");
        }

        var work = Directory.CreateTempSubdirectory("strata-bench-api-").FullName;
        await using var measured = BenchDaemon.Start(stratad, Path.Combine(work, "a"));
        await using var baseline = compare is null ? null : BenchDaemon.Start(compare, Path.Combine(work, "b"));
        try
        {
            var body = new MemoryStream();
            foreach (var d in new[] { baseline, measured }) // the measured one last: its list is the one kept below
            {
                if (d is not null)
                {
                    await d.PopulateAsync(count, parallel, listPath, body);
                }
            }
            var listBytes = body.Length;
            var list = JsonSerializer.Deserialize(body.ToArray(), StrataJsonContext.Default.InstanceList)!;

            var a = new List<double>();
            var a2 = new List<double>();
            var b = new List<double>();
            var c = new List<double>();
            var d2 = new List<double>();
            long infoBytes = 0;
            for (var r = 0; r < runs; r++)
            {
                a.Add(await Raw(measured.Client, listPath, body));
                if (baseline is not null)
                {
                    a2.Add(await Raw(baseline.Client, listPath, body));
                }
                b.Add(await Raw(measured.Client, "v1/info", body));
                infoBytes = body.Length;
                var sw = Stopwatch.StartNew();
                body.SetLength(0);
                JsonSerializer.Serialize(body, list, StrataJsonContext.Default.InstanceList);
                c.Add(sw.Elapsed.TotalMilliseconds);
                sw.Restart();
                var typed = await measured.Client.ListAsync();
                d2.Add(sw.Elapsed.TotalMilliseconds);
                if (typed.Items.Count != count)
                {
                    throw new InvalidOperationException($"ListAsync returned {typed.Items.Count} items, expected {count}");
                }
            }

            // strata ps -a: the table a user reads against --json (the request and parsing alone), alternating.
            var table = new List<double>();
            var json = new List<double>();
            for (var r = 0; r < cliRuns; r++)
            {
                table.Add(TimedCommand.Run(strata, "--socket", measured.Socket, "ps", "-a"));
                json.Add(TimedCommand.Run(strata, "--socket", measured.Socket, "ps", "-a", "--json"));
            }
            measured.Sample("after all rounds");
            baseline?.Sample("after all rounds");

            Console.WriteLine($"P8: {runs} rounds, alternating; ms (min / median / p90 / max)");
            Console.WriteLine(Line($"GET /{listPath} ({count:N0})", a) + $"   {listBytes:N0} bytes, {listBytes / (double)count:0} per instance");
            if (baseline is not null)
            {
                Console.WriteLine(Line("  the same, compared daemon", a2) + $"   measured/compared median {BenchStatistics.Median(a) / BenchStatistics.Median(a2):0.00}x");
            }
            Console.WriteLine(Line("GET /v1/info (one request's floor)", b) + $"   {infoBytes:N0} bytes");
            Console.WriteLine(Line("same list serialised in-process", c) + "   (JSON work alone, no HTTP)");
            Console.WriteLine(Line("typed client ListAsync (+ parsing)", d2));
            Console.WriteLine($"  list / info median {BenchStatistics.Median(a) / BenchStatistics.Median(b):0.0}x; list minus info {BenchStatistics.Median(a) - BenchStatistics.Median(b):0.0} ms; target P8 <= 50 ms: {(BenchStatistics.Median(a) <= 50 ? "met" : "not met")}");
            Console.WriteLine($"strata ps -a with {count:N0} instances, {cliRuns} rounds, alternating; ms (min / median / p90 / max)");
            Console.WriteLine(Line("strata ps -a (the table)", table));
            Console.WriteLine(Line("strata ps -a --json", json) + $"   table / json median {BenchStatistics.Median(table) / BenchStatistics.Median(json):0.00}x");
            Console.WriteLine("P7 daemon RSS (target <= 20 MiB per 1,000 instances)");
            measured.PrintMemory("measured", count);
            baseline?.PrintMemory("compared", count);
            return 0;
        }
        finally
        {
            await measured.DisposeAsync();
            if (baseline is not null)
            {
                await baseline.DisposeAsync();
            }
            try
            {
                Directory.Delete(work, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static async Task<double> Raw(StrataClient client, string path, MemoryStream body)
    {
        body.SetLength(0);
        var sw = Stopwatch.StartNew();
        await client.CopyRawAsync(path, body);
        return sw.Elapsed.TotalMilliseconds;
    }

    private static string Line(string what, List<double> samples)
    {
        var s = BenchStatistics.Summarize(samples)!;
        return $"  {what,-40} {s.MinMs,7:0.0} {s.MedianMs,7:0.0} {s.P90Ms,7:0.0} {s.MaxMs,7:0.0}";
    }

    private static string Mib(long bytes) => (bytes / 1048576.0).ToString("0.0", CultureInfo.InvariantCulture) + " MiB";
}
