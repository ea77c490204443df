using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Strata.Bench.Core;
using Strata.Scheduler;

// P6: the pure scheduler placing 100,000 instances on 10,000 simulated nodes, one batch plan per run (every
// placement filtered, scored, explained and counted into the plan). Baseline in the same run, alternating:
// the same scheduler scoring every feasible node (no sampling) on the first --baseline requests of the same stream,
// so the report shows what log2 N sampling buys, and what it costs in packing.
//   dotnet run -c Release --project bench/Strata.Bench.Scheduler -- [--runs 5] [--nodes 10000] [--instances 100000] [--baseline 2000] [--seed 1]
var runs = 5;
var nodeCount = 10_000;
var instances = 100_000;
var baselineCount = 2_000;
var seed = 1;
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--runs": runs = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--nodes": nodeCount = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--instances": instances = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--baseline": baselineCount = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--seed": seed = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        default: Console.Error.WriteLine($"unknown option {args[i]}; use --runs N, --nodes N, --instances N, --baseline N, --seed N"); return 2;
    }
}
baselineCount = Math.Min(baselineCount, instances);
const double Target = 50_000;
var probe = new ProcHostProbe();
var snapshot = SimulatedCluster.Nodes(nodeCount, seed);
var requests = SimulatedCluster.Requests(instances, seed + 1);
var sampled = new Scheduler();
var spread = new Scheduler(new SchedulerOptions { Algorithm = SchedulingAlgorithm.Spread });
var exhaustive = new Scheduler(new SchedulerOptions { SamplingThreshold = int.MaxValue });

// One batch: place the first `count` requests in a fresh plan; returns placements/s and the plan.
// Nodes visited (filtered) per placement, from every 100th placement's explanation, per scheduler.
var visitedPer = new Dictionary<Scheduler, List<int>>();

// Placements per CPU-second of this process (GC included): what one dedicated core would do, whatever the load.
var cpuRates = new Dictionary<Scheduler, List<double>>();

(double Rate, int Placed, SchedulingPlan Plan) Batch(Scheduler scheduler, int count, int planSeed)
{
    var cpu = cpuRates.TryGetValue(scheduler, out var c) ? c : cpuRates[scheduler] = [];
    var visits = visitedPer.TryGetValue(scheduler, out var v) ? v : visitedPer[scheduler] = [];
    GC.Collect();
    GC.WaitForPendingFinalizers();
    var plan = scheduler.CreatePlan(snapshot, planSeed);
    var placed = 0;
    using var self = Process.GetCurrentProcess();
    var cpuBefore = self.TotalProcessorTime;
    var sw = Stopwatch.StartNew();
    for (var i = 0; i < count; i++)
    {
        var outcome = plan.Place(requests[i]);
        placed += outcome.Placed ? 1 : 0;
        if (i % 100 == 0)
        {
            visits.Add(outcome.Explanation.Visited);
        }
    }
    sw.Stop();
    self.Refresh();
    cpu.Add(count / (self.TotalProcessorTime - cpuBefore).TotalSeconds);
    return (count / sw.Elapsed.TotalSeconds, placed, plan);
}

Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}; load average {probe.LoadAverage()}");
Console.WriteLine($"cluster: {nodeCount:N0} nodes ({snapshot.Nodes.Count(n => n.Draining || n.Offline)} draining or offline), {instances:N0} requests, seed {seed}");
Batch(sampled, Math.Min(instances, 20_000), 0); // warm-up: JIT and tiered compilation
Batch(spread, Math.Min(instances, 20_000), 0);
Batch(exhaustive, Math.Min(baselineCount, 200), 0);

var sampledRates = new List<double>();
var spreadRates = new List<double>();
var exhaustiveRates = new List<double>();
var loads = new List<string>();
runs = Math.Max(1, runs);
var last = (Rate: 0.0, Placed: 0, Plan: sampled.CreatePlan(snapshot, 0));
var lastExhaustive = last;
for (var run = 1; run <= runs; run++)
{
    last = Batch(sampled, instances, run);
    sampledRates.Add(last.Rate);
    lastExhaustive = Batch(exhaustive, baselineCount, run);
    exhaustiveRates.Add(lastExhaustive.Rate);
    var s = Batch(spread, instances, run);
    spreadRates.Add(s.Rate);
    loads.Add(probe.LoadAverage() ?? "unknown");
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"run {run}: sampled bin-pack {last.Rate:N0}/s ({last.Placed:N0} placed), exhaustive bin-pack {lastExhaustive.Rate:N0}/s, sampled spread {s.Rate:N0}/s ({s.Placed:N0} placed); load {loads[^1]}"));
}

// Plan verification: a newer snapshot where every tenth node changed version (same free resources), so those
// nodes' placements are re-checked with every filter and the rest accepted as they are.
var newer = new ClusterSnapshot(snapshot.Nodes.Select((n, i) => i % 10 == 0 ? Copy(n, n.Version + 1) : n));
var verifySw = Stopwatch.StartNew();
var verdict = sampled.Verify(last.Plan, newer);
verifySw.Stop();

// What sampling costs: over the same first requests, how many distinct nodes each approach used and the mean
// bin-pack score of the chosen nodes (higher = fuller nodes chosen).
var sampledHead = last.Plan.Placements.Take(lastExhaustive.Plan.Placements.Count).ToList();
var explanation = sampled.Place(snapshot, requests[0], seed).Explanation;
var explanationBytes = JsonSerializer.SerializeToUtf8Bytes(explanation, SchedulerJson.Default.PlacementExplanation).Length;

Console.WriteLine();
// The warm-up batches are the first entry of each CPU list: drop them.
foreach (var list in cpuRates.Values)
{
    list.RemoveAt(0);
}
Report("P6 sampled bin-pack (default), wall clock", sampledRates);
Report("   sampled spread, wall clock", spreadRates);
Report($"   baseline: exhaustive bin-pack (first {baselineCount:N0} requests), wall clock", exhaustiveRates);
Report("   sampled bin-pack, per CPU-second", cpuRates[sampled]);
Report("   sampled spread, per CPU-second", cpuRates[spread]);
Report("   exhaustive bin-pack, per CPU-second", cpuRates[exhaustive]);
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"nodes filtered per placement (mean of every 100th): sampled bin-pack {visitedPer[sampled].Average():0.0}, sampled spread {visitedPer[spread].Average():0.0}, exhaustive {visitedPer[exhaustive].Average():0.0}"));
var ratio = BenchStatistics.Median(sampledRates) / BenchStatistics.Median(exhaustiveRates);
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"sampling speed-up (medians): {ratio:0.0} × wall clock, {BenchStatistics.Median(cpuRates[sampled]) / BenchStatistics.Median(cpuRates[exhaustive]):0.0} × per CPU-second"));
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"packing over the first {sampledHead.Count:N0} placements: sampled used {sampledHead.Select(p => p.Node).Distinct().Count():N0} nodes (mean score {sampledHead.Average(p => p.Score):0.0}), exhaustive used {lastExhaustive.Plan.Placements.Select(p => p.Node).Distinct().Count():N0} (mean score {lastExhaustive.Plan.Placements.Average(p => p.Score):0.0})"));
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"plan verification of {last.Plan.Placements.Count:N0} placements against a snapshot with {nodeCount / 10:N0} changed nodes: {verifySw.Elapsed.TotalMilliseconds:0} ms ({verdict.Accepted.Count:N0} accepted, {verdict.Rejected.Count:N0} rejected)"));
Console.WriteLine($"one explanation as JSON: {explanationBytes} bytes");
Console.WriteLine($"load average during the runs: {string.Join("; ", loads)}");
var met = BenchStatistics.Median(sampledRates) >= Target;
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"target ≥ {Target:N0} placements/s: {(met ? "met" : "NOT met")} on the wall clock (median {BenchStatistics.Median(sampledRates):N0}/s); per CPU-second median {BenchStatistics.Median(cpuRates[sampled]):N0}/s ({(BenchStatistics.Median(cpuRates[sampled]) >= Target ? "meets" : "below")} the target on one dedicated core)"));
return met ? 0 : 1;

static void Report(string what, List<double> rates)
{
    var sorted = rates.Order().ToList();
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{what}: n={sorted.Count} min={sorted[0]:N0}/s median={BenchStatistics.Percentile(sorted, 0.5):N0}/s max={sorted[^1]:N0}/s"));
}

static NodeInfo Copy(NodeInfo n, long version) => new()
{
    Name = n.Name,
    Version = version,
    Capacity = n.Capacity,
    Free = n.Free,
    Tiers = n.Tiers,
    Arch = n.Arch,
    Labels = n.Labels,
    Draining = n.Draining,
    Offline = n.Offline,
    Instances = n.Instances,
};
