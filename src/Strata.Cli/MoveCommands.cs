using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Strata.Client;
using Strata.Contracts;

namespace Strata.Cli;

/// <summary><c>strata move NAME (--node NODE | --to-address URL --to-token TOKEN) [--live|--cold] [--bandwidth 200M] [--postcopy] [--json]</c>.</summary>
internal static class MoveCommands
{
    public static Command Move()
    {
        var instance = new Argument<string>("instance");
        var address = new Option<string?>("--to-address") { Description = "the target daemon's API address, e.g. http://10.0.0.2:7443 (its --listen)" };
        var token = new Option<string?>("--to-token") { Description = "a token the target daemon accepts for this project (its admin token or an operator token of the same project); default $STRATA_MOVE_TOKEN" };
        var node = new Option<string?>("--node") { Description = "inside a cluster: the node to move it to, by name (strata node ls); the nodes reach each other themselves" };
        var bandwidth = new Option<string?>("--bandwidth") { Description = "limit the RAM stream and the disk copy, e.g. 200M (bytes per second)" };
        var postcopy = new Option<bool>("--postcopy")
        {
            Description = "switch to postcopy after the first RAM pass: always converges, but from then on a failure of either daemon or of the link loses the guest, and the move cannot be cancelled",
        };
        var live = new Option<bool>("--live") { Description = "move it running (the vm tier); refused, with the reason, on a tier that cannot" };
        var cold = new Option<bool>("--cold")
        {
            Description = "stop it, carry its state (a container's writable layer, a stepped wasm module's memory; a process carries nothing and restarts), start it on the target, then remove it here; the default for tiers that cannot move live",
        };
        var json = new Option<bool>("--json") { Description = "print the finished operation as JSON (no progress display)" };
        var command = new Command("move",
            "Move an instance to another cluster node (--node) or another daemon: a VM or sandbox live (the guest keeps running, one short pause, its disk goes along); a container, wasm module, process, stopped sandbox or sandbox with -v mounts cold (--cold). Ctrl-C cancels and leaves it here as it was")
        {
            instance, node, address, token, live, cold, bandwidth, postcopy, json,
        };
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            using var client = StrataCli.Client(parse);
            var name = parse.GetValue(instance)!;
            if (parse.GetValue(live) && parse.GetValue(cold))
            {
                throw StrataException.Invalid("mode", "give --live or --cold, not both");
            }
            var operation = await client.MoveAsync(name, new MoveRequest
            {
                Node = parse.GetValue(node),
                ToAddress = parse.GetValue(address),
                ToToken = parse.GetValue(node) is null ? parse.GetValue(token) ?? Environment.GetEnvironmentVariable("STRATA_MOVE_TOKEN") : null,
                Bandwidth = parse.GetValue(bandwidth),
                Postcopy = parse.GetValue(postcopy),
                Mode = parse.GetValue(live) ? "live" : parse.GetValue(cold) ? "cold" : null,
            }, ct);
            return await FollowAsync(client, operation, parse.GetValue(json));
        }));
        return command;
    }

    /// <summary>
    /// Shows the move until it ends: one status line (RAM sent and left, dirty rate, expected downtime), one line per
    /// phase when the output is not a terminal, the operation as JSON with <c>--json</c>. Ctrl-C cancels the move on
    /// the daemon and waits until it has been undone; a second Ctrl-C leaves at once (the move goes on).
    /// </summary>
    private static async Task<int> FollowAsync(StrataClient client, OperationInfo operation, bool json)
    {
        using var sigint = OperationCommands.CancelOnInterrupt(client, operation, $"cancelling the move of {operation.Target}");
        var final = operation;
        var terminal = !json && !Console.IsOutputRedirected;
        var lastPhase = "";
        while (!OperationStatusNames.IsFinished(final.Status))
        {
            final = await client.WaitOperationAsync(operation.Id, TimeSpan.FromMilliseconds(250), CancellationToken.None);
            if (json)
            {
                continue;
            }
            var ram = final.Progress.Items.FirstOrDefault(i => i.Id == "ram");
            var step = final.Progress.Items.FirstOrDefault(i => i.Id == "move");
            var phase = step?.Phase ?? ram?.Phase ?? "preparing the target";
            if (terminal)
            {
                Console.Write($"\r{Line(final, ram, step)}".PadRight(Math.Min(Console.BufferWidth > 0 ? Console.BufferWidth - 1 : 120, 160)));
            }
            else if (phase != lastPhase)
            {
                Console.WriteLine(Line(final, ram, step));
            }
            lastPhase = phase;
        }
        if (terminal)
        {
            Console.WriteLine();
        }
        if (json)
        {
            StrataCli.WriteJson(final, StrataJsonContext.Default.OperationInfo);
        }
        switch (final.Status)
        {
            case OperationStatusNames.Succeeded:
                if (!json && final.Result is { ValueKind: JsonValueKind.Object } coldResult
                    && coldResult.Deserialize(StrataJsonContext.Default.MoveResult) is { Mode: "cold" } c)
                {
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{c.Name} moved to {c.To} (cold{(c.ModeReason is { } why ? ": " + why : "")}) in {c.TotalSeconds:0.00} s{(c.DowntimeMs > 0 ? $", down {c.DowntimeMs / 1000:0.00} s" : "")}; carried {c.Carried}"));
                }
                else if (!json && final.Result is { ValueKind: JsonValueKind.Object } result && result.Deserialize(StrataJsonContext.Default.MoveResult) is { } r)
                {
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{r.Name} moved to {r.To} ({r.Mode}{(r.ModeReason is { } why ? ": " + why : "")}) in {r.TotalSeconds:0.00} s: downtime {r.DowntimeMs:0} ms, {Mib(r.RamBytes)} MiB of RAM, {Mib(r.DiskBytes)} MiB of disk{(r.UsedPostcopy ? ", postcopy" : "")}"));
                }
                return 0;
            case OperationStatusNames.Cancelled:
                Console.Error.WriteLine($"strata: the move of {operation.Target} was cancelled; it stays here as it was and the target was cleaned up");
                return 130;
            default:
                Console.Error.WriteLine($"strata: {final.Error?.Detail ?? $"the move of {operation.Target} {final.Status}"}");
                return StrataCli.ExitError;
        }
    }

    private static string Line(OperationInfo o, ProgressItem? ram, ProgressItem? step) =>
        step is not null ? $"{o.Target}: [{step.Current}/{step.Total}] {step.Message ?? step.Phase}"
        : ram is null ? $"{o.Target}: preparing the target"
            : string.Create(CultureInfo.InvariantCulture, $"{o.Target}: RAM {Mib(ram.Current)}/{Mib(ram.Total)} MiB; {o.Progress.Message}");

    private static string Mib(long bytes) => (bytes / (1024.0 * 1024)).ToString("0.0", CultureInfo.InvariantCulture);
}
