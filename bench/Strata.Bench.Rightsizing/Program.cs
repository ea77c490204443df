using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Strata.Bench.Core;
using Strata.Rightsizing;
using Strata.Rightsizing.Policy;

// Right-sizing, trace-driven: seeded synthetic usage traces (steady, diurnal, spiky, growing, mixed) replayed through
// the recommender in auto mode (the policy applying limits as it goes; a sample above the memory limit is an OOM kill
// the policy answers), against static limits set at each trace's peak and at its mean, and the limits declared by
// hand, all computed in the same run over the same traces. Target: average memory slack ≤ 25 % with no more OOM
// events than the peak-sized baseline (Autopilot: 23 %).
//   dotnet run -c Release --project bench/Strata.Bench.Rightsizing -- [--instances 1000] [--days 7] [--step-seconds 60]
//     [--evaluate-every 5] [--consecutive 6] [--cooldown-minutes 60] [--shrink-above-upper | --shrink-anywhere]
//     [--memory-shrink-after-hours 24] [--margin 0.15] [--seed 1]
// The sampler's CPU cost per round, side by side with sampling off: Strata.Bench.Rightsizing sampling … (SamplingCost.cs).
if (args is ["sampling", ..])
{
    return await SamplingCost.RunAsync(args[1..]);
}
var instances = 1000;
var days = 7;
var stepSeconds = 60;
var evaluateEvery = 5;
var consecutive = 6;
var cooldownMinutes = 60;
var seed = 1;
// The daemon's policy by default (RightsizePolicyOptions.Daemon); --shrink-anywhere and --memory-shrink-after-hours 0
// replay other ones.
var shrinkAboveUpper = RightsizePolicyOptions.Daemon.ShrinkOnlyAboveUpperBound;
var memoryShrinkAfter = RightsizePolicyOptions.Daemon.MemoryShrinkAfter;
var margin = new RecommenderOptions().Margin;
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--instances": instances = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--days": days = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--step-seconds": stepSeconds = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--evaluate-every": evaluateEvery = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--consecutive": consecutive = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--cooldown-minutes": cooldownMinutes = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--shrink-above-upper": shrinkAboveUpper = true; break;
        case "--shrink-anywhere": shrinkAboveUpper = false; break;
        case "--memory-shrink-after-hours":
            var hours = double.Parse(args[++i], CultureInfo.InvariantCulture);
            memoryShrinkAfter = hours > 0 ? TimeSpan.FromHours(hours) : null;
            break;
        case "--margin": margin = double.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--seed": seed = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        default:
            Console.Error.WriteLine($"unknown option {args[i]}; use --instances N, --days N, --step-seconds N, --evaluate-every N, --consecutive N, --cooldown-minutes N, --shrink-above-upper, --shrink-anywhere, --memory-shrink-after-hours H, --margin FRACTION, --seed N");
            return 2;
    }
}
const double SlackTarget = 0.25;
var step = TimeSpan.FromSeconds(stepSeconds);
var samples = (int)(TimeSpan.FromDays(days) / step);
var start = new DateTimeOffset(2026, 1, 5, 0, 0, 0, TimeSpan.Zero);
var recommender = new Recommender(new RecommenderOptions { SampleInterval = step, Margin = margin });
var policy = new RightsizePolicy(RightsizePolicyOptions.Daemon with { ConsecutiveSamples = consecutive, Cooldown = TimeSpan.FromMinutes(cooldownMinutes), ShrinkOnlyAboveUpperBound = shrinkAboveUpper, MemoryShrinkAfter = memoryShrinkAfter });
var kinds = Enum.GetValues<TraceKind>();
var probe = new ProcHostProbe();

Console.WriteLine($"machine: {Environment.ProcessorCount} cores, .NET {Environment.Version}; load average {probe.LoadAverage()}");
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"traces: {instances:N0} instances ({instances / kinds.Length:N0} per kind), {days} days at {stepSeconds} s = {samples:N0} samples each ({(long)instances * samples:N0} in all), seed {seed}"));
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"policy: auto, evaluated every {evaluateEvery} samples, > {policy.Options.Threshold * 100:0} % off for {consecutive} evaluations, cooldown {cooldownMinutes} min, margin {margin * 100:0.#} %, lowered {(shrinkAboveUpper ? "only above the upper bound" : "whenever off")}{(memoryShrinkAfter is { } after ? $", memory after {after.TotalHours:0.#} h of history" : "")}, OOM → max(limit × {policy.Options.OomBumpRatio}, upper bound)"));

var auto = new ReplayResult[instances];
var peak = new ReplayResult[instances];
var mean = new ReplayResult[instances];
var declared = new ReplayResult[instances];
var peakMargin = new ReplayResult[instances];
var hourly = new ReplayResult[instances];
var hourlyMargin = new ReplayResult[instances];
var spikeBlind = new ReplayResult[instances];
var hourSamples = Math.Max(1, (int)(TimeSpan.FromHours(1) / step));
var examples = new (UsageHistory History, ResourceLimits Limits)?[kinds.Length];
using var self = Process.GetCurrentProcess();
var cpuBefore = self.TotalProcessorTime;
var sw = Stopwatch.StartNew();
Parallel.For(0, instances, i =>
{
    var kind = kinds[i % kinds.Length];
    var trace = SyntheticTrace.Generate(kind, (seed * 100_003) + i, samples, step);
    auto[i] = Replay.Auto(trace, recommender, policy, start, step, evaluateEvery, out var history, out var final);
    peak[i] = Replay.Static(trace, new ResourceLimits(trace.Cpu.Max(), trace.Memory.Max()));
    mean[i] = Replay.Static(trace, new ResourceLimits(trace.Cpu.Average(), trace.Memory.Average()));
    declared[i] = Replay.Static(trace, trace.Declared);
    peakMargin[i] = Replay.Static(trace, new ResourceLimits(trace.Cpu.Max() * (1 + recommender.Options.Margin), trace.Memory.Max() * (1 + recommender.Options.Margin)));
    hourly[i] = Replay.Clairvoyant(trace, hourSamples, 0);
    hourlyMargin[i] = Replay.Clairvoyant(trace, hourSamples, recommender.Options.Margin);
    spikeBlind[i] = Replay.SpikeBlind(trace, hourSamples);
    if (i < kinds.Length)
    {
        examples[i] = (history, final);
    }
});
sw.Stop();
self.Refresh();
var cpuSeconds = (self.TotalProcessorTime - cpuBefore).TotalSeconds;

Console.WriteLine();
Console.WriteLine("memory slack (time-weighted, mean over instances) and OOM events; cpu slack and throttled samples; memory slack on the last day");
Console.WriteLine("(\"peak + margin\" is the static limit at the trace's peak plus the recommender's margin: the least slack a limit that never goes below the observed peak plus margin can have on a trace that does not grow)");
Console.WriteLine("(\"hourly oracle\" knows the future: every hour the limit is the coming hour's peak, \"+ margin\" that × (1 + margin); zero OOM events by construction, a floor for any online strategy that changes limits hourly)");
Console.WriteLine("(\"spike-blind hourly\" knows the coming hour's use without spikes and the trace's largest spike, not when spikes start, and holds that spike all hour: no margin, zero OOM events; a floor for any strategy that changes limits hourly and has no OOM event wherever the spikes come)");
Console.WriteLine("(\"OOM-hit\": instances with at least one OOM event, as Autopilot counts; \"at declared\": OOM events while the limit was still at least the declared one, which the declared limits had too)");
Console.WriteLine($"{"kind",-8} {"strategy",-19} {"mem slack",9} {"OOM events",10} {"OOM-hit",7} {"at declared",11} {"cpu slack",9} {"throttled",9} {"changes",8} {"last day",9}");
foreach (var kind in kinds.Select(k => (TraceKind?)k).Append(null))
{
    var members = Enumerable.Range(0, instances).Where(i => kind is null || kinds[i % kinds.Length] == kind).ToList();
    foreach (var (name, results) in new[] { ("auto", auto), ("static at peak", peak), ("static at mean", mean), ("declared by hand", declared), ("peak + margin", peakMargin), ("hourly oracle", hourly), ("hourly + margin", hourlyMargin), ("spike-blind hourly", spikeBlind) })
    {
        var rows = members.Select(i => results[i]).ToList();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{kind?.ToString().ToLowerInvariant() ?? "all",-8} {name,-19} {rows.Average(r => r.MemorySlack) * 100,8:0.0}% {rows.Sum(r => r.OomEvents),10:N0} {rows.Count(r => r.OomEvents > 0),7:N0} {rows.Sum(r => r.OomAtDeclared),11:N0} {rows.Average(r => r.CpuSlack) * 100,8:0.0}% {rows.Sum(r => r.ThrottledSamples) * 100.0 / ((long)rows.Count * samples),8:0.00}% {rows.Average(r => r.Changes),8:0.0} {rows.Average(r => r.LastDayMemorySlack) * 100,8:0.0}%"));
    }
}

Console.WriteLine();
var stateBytes = 0;
foreach (var (example, index) in examples.Select((e, i) => (e, i)))
{
    if (example is not { } e)
    {
        continue;
    }
    var recommendation = recommender.Recommend(e.History, e.Limits);
    stateBytes = Math.Max(stateBytes, JsonSerializer.SerializeToUtf8Bytes(e.History.ToState(), RightsizingJson.Default.UsageHistoryState).Length);
    Console.WriteLine($"example, {kinds[index].ToString().ToLowerInvariant()} trace after {days} days:");
    foreach (var sentence in recommendation.Explanation.Sentences)
    {
        Console.WriteLine("  " + sentence);
    }
}
Console.WriteLine($"stored history per instance (JSON): at most {stateBytes:N0} bytes in the examples");
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"replay: {sw.Elapsed.TotalSeconds:0.0} s wall clock, {cpuSeconds:0.0} CPU-seconds ({(long)instances * samples / cpuSeconds:N0} auto samples per CPU-second, baselines included); load average {probe.LoadAverage()}"));
var autoSlack = auto.Average(r => r.MemorySlack);
var autoOoms = auto.Sum(r => r.OomEvents);
var peakOoms = peak.Sum(r => r.OomEvents);
var met = autoSlack <= SlackTarget && autoOoms <= peakOoms;
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"target: memory slack ≤ {SlackTarget * 100:0} % with OOM events ≤ the peak-sized baseline's: {(met ? "met" : "NOT met")} (auto {autoSlack * 100:0.0} % slack, {autoOoms:N0} OOM events; static at peak {peak.Average(r => r.MemorySlack) * 100:0.0} %, {peakOoms:N0} OOM events)"));
return met ? 0 : 1;
