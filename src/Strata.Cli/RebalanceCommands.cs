using System.CommandLine;
using System.Globalization;
using Strata.Contracts;
using Strata.Scheduler;
using Strata.Scheduler.Rebalancing;

namespace Strata.Cli;

/// <summary>
/// <c>strata rebalance [--dry-run] [--apply] [--json]</c>: what the rebalancer would move, and why (docs/scheduler.md#rebalancing).
/// The plan is the pure <see cref="Rebalancer"/>'s; executing it needs an <see cref="IInstanceMover"/> (cross-node moves).
/// </summary>
internal static class RebalanceCommands
{
    /// <summary>
    /// What carries out <c>--apply</c>: null until cross-node moves (<c>strata move --node</c>) are wired in, and then
    /// <c>--apply</c> is refused with the way out.
    /// </summary>
    internal static IInstanceMover? Mover { get; set; }

    public static Command Rebalance()
    {
        var dryRun = new Option<bool>("--dry-run") { Description = "print the plan and its reasons, move nothing (the default)" };
        var apply = new Option<bool>("--apply") { Description = "carry out the proposed move (needs moves between cluster nodes)" };
        var threshold = new Option<double?>("--threshold") { Description = "allowed difference of nodes' predicted load, as a fraction (default 0.2)" };
        var json = new Option<bool>("--json") { Description = "print the decision as JSON" };
        var command = new Command("rebalance", "Propose the one move that best evens out nodes' predicted load (from usage histories), with its reasons; --dry-run is the default")
        {
            dryRun, apply, threshold, json,
        };
        command.SetAction(async (parse, ct) =>
        {
            if (parse.GetValue(apply) && parse.GetValue(dryRun))
            {
                Console.Error.WriteLine("strata: rebalance: --apply and --dry-run contradict each other; give one");
                return StrataCli.ExitUsage;
            }
            return await StrataCli.Guard(async () =>
            {
                using var client = StrataCli.Client(parse);
                var info = await client.InfoAsync(ct);
                var instances = (await client.ListAsync(ct)).Items;
                var histories = (await client.RecommendationsAsync(null, ct)).Recommendations;
                var options = new RebalanceOptions { Rounds = 1, Threshold = parse.GetValue(threshold) ?? 0.20 };
                Rebalancer rebalancer;
                try
                {
                    rebalancer = new Rebalancer(options);
                }
                catch (ArgumentException e)
                {
                    throw StrataException.Invalid("--threshold", e.Message);
                }
                var node = HostNode("this host", info.Host, instances, histories);
                var decision = rebalancer.Evaluate([node], new RebalanceState(), DateTimeOffset.UtcNow);
                if (parse.GetValue(json))
                {
                    StrataCli.WriteJson(decision, SchedulerJson.Default.RebalanceDecision);
                }
                else
                {
                    Console.WriteLine(decision.Summary);
                    foreach (var load in decision.Loads)
                    {
                        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                            $"  {load.Node}: predicted load {load.Load * 100:0.#} % (cpu {load.Cpu * 100:0.#} %, memory {load.Memory * 100:0.#} %), {load.Instances} running instance{(load.Instances == 1 ? "" : "s")}, {node.Instances.Count(i => histories.Any(h => h.Name == i.Name && h.Project == i.Project))} with a usage history"));
                    }
                    foreach (var r in decision.Rejected)
                    {
                        Console.WriteLine("  not moved: " + r);
                    }
                }
                if (parse.GetValue(apply))
                {
                    if (decision.Move is null)
                    {
                        Console.Error.WriteLine("strata: rebalance --apply: nothing to move");
                        return 0;
                    }
                    if (Mover is null)
                    {
                        throw StrataException.Invalid("--apply",
                            "this build cannot carry out a rebalance: it needs moves between cluster nodes (strata move --node), which are not wired into rebalance yet; move the instance by hand as proposed above, or run without --apply to see the plan");
                    }
                    Console.WriteLine(await Mover.MoveAsync(decision.Move, ct));
                }
                return 0;
            });
        });
        return command;
    }

    /// <summary>
    /// This daemon as one rebalance node: its running instances at their limits, predicted at their recommendation
    /// where a usage history exists (forecast: the memory forecast's peak), else at their limits.
    /// </summary>
    internal static RebalanceNode HostNode(string name, HostInfo host, IReadOnlyList<InstanceInfo> instances, IReadOnlyList<InstanceRecommendation> histories)
    {
        var capacity = new Resources(host.Cpus * 1000L, host.MemoryBytes);
        var list = new List<RebalanceInstance>();
        foreach (var i in instances.Where(i => i.State == "running"))
        {
            var h = histories.FirstOrDefault(r => r.Name == i.Name && r.Project == i.Project && r.State != "removed" && r.Samples > 0);
            var limits = h is not null
                ? new Resources(Millis(h.Current.CpuCores), h.Current.MemoryBytes)
                : new Resources(Millis(i.Spec.Resources?.Cpus ?? 0), i.Spec.Resources?.MemoryBytes ?? 0);
            var predicted = h is null ? limits : new Resources(Millis(h.Cpu.Target), (long)h.Memory.Target);
            Resources? forecast = h is { ForecastMemoryPeak: > 0 } ? new Resources(predicted.CpuMillis, Math.Max(predicted.MemoryBytes, (long)h.ForecastMemoryPeak)) : null;
            list.Add(new RebalanceInstance(i.Name, i.Project, limits, predicted, forecast));
        }
        return new RebalanceNode(name, capacity, list);
    }

    private static long Millis(double cores) => (long)Math.Round(cores * 1000);
}
