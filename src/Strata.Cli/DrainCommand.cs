using System.CommandLine;
using System.Text.Json;
using Strata.Client;
using Strata.Contracts;

namespace Strata.Cli;

/// <summary>
/// <c>strata node drain NODE [--parallel 2] [--json]</c>: place nothing new there and move every instance off it (a
/// running vm or sandbox live, the other tiers cold), as an operation. Prints each instance as its move starts and
/// ends, then what moved, failed or cannot move and why; Ctrl-C cancels (no new move starts, the moves under way are
/// undone; what moved stays moved).
/// </summary>
internal static class DrainCommand
{
    public static Command Drain()
    {
        var name = new Argument<string>("node");
        var json = new Option<bool>("--json") { Description = "print the finished drain operation as JSON (its items and result)" };
        var parallel = new Option<int>("--parallel") { Description = "moves at a time (1-16)", DefaultValueFactory = _ => 2 };
        var command = new Command("drain",
            "Place nothing new on the node and move its instances to other nodes: a running VM or sandbox live, containers, wasm modules and processes cold; what cannot move is listed with the reason. Ctrl-C stops starting moves and undoes those under way")
        { name, parallel, json };
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            using var client = StrataCli.Client(parse);
            var node = parse.GetValue(name)!;
            var operation = await client.DrainNodeAsync(node, parse.GetValue(parallel), ct);
            return await FollowAsync(client, operation, node, parse.GetValue(json));
        }));
        return command;
    }

    private static async Task<int> FollowAsync(StrataClient client, OperationInfo operation, string node, bool json)
    {
        using var sigint = OperationCommands.CancelOnInterrupt(client, operation, $"cancelling the drain of {node}");
        var final = operation;
        var shown = new Dictionary<string, string>(StringComparer.Ordinal);
        while (true)
        {
            if (!json)
            {
                foreach (var item in final.Progress.Items)
                {
                    if (shown.GetValueOrDefault(item.Id) != item.Phase)
                    {
                        shown[item.Id] = item.Phase;
                        Console.WriteLine($"[{final.Progress.Current}/{final.Progress.Total}] {Line(item)}");
                    }
                }
            }
            if (OperationStatusNames.IsFinished(final.Status))
            {
                break;
            }
            final = await client.WaitOperationAsync(operation.Id, TimeSpan.FromMilliseconds(500), CancellationToken.None);
        }
        if (json)
        {
            StrataCli.WriteJson(final, StrataJsonContext.Default.OperationInfo);
        }
        var failed = final.Progress.Items.Any(i => i.Phase is "failed" or "cancelled");
        switch (final.Status)
        {
            case OperationStatusNames.Succeeded:
                if (!json)
                {
                    Console.WriteLine($"{node}: {final.Progress.Message}");
                }
                return failed ? StrataCli.ExitError : 0;
            case OperationStatusNames.Cancelled:
                Console.Error.WriteLine($"strata: the drain of {node} was cancelled; what moved stays moved, the rest stays on {node} (it stays drained: strata node undrain {node})");
                return 130;
            default:
                Console.Error.WriteLine($"strata: {final.Error?.Detail ?? $"the drain of {node} {final.Status}"}");
                return StrataCli.ExitError;
        }
    }

    /// <summary><c>moved default/web (vm) to dn2</c>, <c>not movable default/x (process): why</c>.</summary>
    private static string Line(ProgressItem i)
    {
        var word = i.Phase switch
        {
            "not-movable" => "not movable",
            "not-started" => "not started",
            "failed" => "FAILED",
            _ => i.Phase,
        };
        return $"{word} {i.Id} ({i.Kind}){(i.Message is { Length: > 0 } m ? (m.StartsWith("to ", StringComparison.Ordinal) ? " " : ": ") + m : "")}";
    }
}
