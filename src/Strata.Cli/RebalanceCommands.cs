using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Strata.Client;
using Strata.Contracts;
using Strata.Scheduler;
using Strata.Scheduler.Rebalancing;

namespace Strata.Cli;

/// <summary>
/// <c>strata rebalance [--dry-run] [--apply] [--threshold F] [--json]</c>: what the rebalancer would move, and why
/// (docs/scheduler.md#rebalancing). The daemon plans (in a cluster, across its nodes on their published predicted
/// load); <c>--apply</c> has it carry the move out by node name as an operation, followed here, Ctrl-C cancelling it.
/// </summary>
internal static class RebalanceCommands
{
    public static Command Rebalance()
    {
        var dryRun = new Option<bool>("--dry-run") { Description = "print the plan and its reasons, move nothing (the default)" };
        var apply = new Option<bool>("--apply") { Description = "carry out the proposed move between cluster nodes (host administrators)" };
        var threshold = new Option<double?>("--threshold") { Description = "allowed difference of nodes' predicted load, as a fraction (default 0.2)" };
        var json = new Option<bool>("--json") { Description = "print the decision (with --apply: the outcome) as JSON" };
        var command = new Command("rebalance", "Propose the one move that best evens out nodes' predicted load (from usage histories), with its reasons; --dry-run is the default, --apply carries it out")
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
                if (parse.GetValue(apply))
                {
                    return await ApplyAsync(client, parse.GetValue(threshold), parse.GetValue(json));
                }
                var text = await client.RebalanceJsonAsync(parse.GetValue(threshold), ct);
                var decision = JsonSerializer.Deserialize(text, SchedulerJson.Default.RebalanceDecision)
                    ?? throw new StrataException(ErrorKind.Internal, "the daemon answered an empty rebalance plan");
                if (parse.GetValue(json))
                {
                    StrataCli.WriteJson(decision, SchedulerJson.Default.RebalanceDecision);
                }
                else
                {
                    Print(decision);
                }
                return 0;
            });
        });
        return command;
    }

    private static void Print(RebalanceDecision decision)
    {
        Console.WriteLine(decision.Summary);
        foreach (var load in decision.Loads)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {load.Node}: predicted load {load.Load * 100:0.#} % (cpu {load.Cpu * 100:0.#} %, memory {load.Memory * 100:0.#} %), {load.Instances} instance{(load.Instances == 1 ? "" : "s")}, {load.WithHistory} with a usage history{(load.Available ? "" : ", takes nothing new")}"));
        }
        foreach (var r in decision.Rejected)
        {
            Console.WriteLine("  not moved: " + r);
        }
    }

    /// <summary>Starts the rebalance operation and follows it: each step as a line, Ctrl-C cancels (the move is undone).</summary>
    private static async Task<int> ApplyAsync(StrataClient client, double? threshold, bool json)
    {
        var operation = await client.ApplyRebalanceAsync(threshold, CancellationToken.None);
        using var sigint = OperationCommands.CancelOnInterrupt(client, operation, "cancelling the rebalance");
        var final = operation;
        string? said = null;
        while (!OperationStatusNames.IsFinished(final.Status))
        {
            final = await client.WaitOperationAsync(operation.Id, TimeSpan.FromMilliseconds(500), CancellationToken.None);
            if (!json && final.Progress.Message is { } m && m != said && !OperationStatusNames.IsFinished(final.Status))
            {
                Console.WriteLine(m);
                said = m;
            }
        }
        var outcome = final.Result is { ValueKind: JsonValueKind.Object } r ? r.Deserialize(SchedulerJson.Default.RebalanceOutcome) : null;
        switch (final.Status)
        {
            case OperationStatusNames.Succeeded when outcome is not null:
                if (json)
                {
                    StrataCli.WriteJson(outcome, SchedulerJson.Default.RebalanceOutcome);
                    return 0;
                }
                if (outcome.Result == "moved")
                {
                    Console.WriteLine($"{outcome.Detail}: {outcome.Decision.Move!.Why}");
                }
                else
                {
                    Print(outcome.Decision);
                    Console.WriteLine("nothing moved");
                }
                return 0;
            case OperationStatusNames.Cancelled:
                Console.Error.WriteLine("strata: the rebalance was cancelled; the instance stays where it was and the target was cleaned up");
                return 130;
            default:
                Console.Error.WriteLine($"strata: {final.Error?.Detail ?? $"the rebalance {final.Status}"}");
                return StrataCli.ExitError;
        }
    }
}
