using System.CommandLine;
using System.Runtime.InteropServices;
using Spectre.Console;
using Strata.Contracts;

namespace Strata.Cli;

/// <summary><c>strata operation ls|show|wait|cancel</c>: long work running in the daemon (image pulls, instance creates), the caller's project's only.</summary>
internal static class OperationCommands
{
    public static Command Build()
    {
        var operation = new Command("operation", "Long work running in the daemon (image pulls, instance creates): list, show, wait for, cancel");
        operation.Aliases.Add("op");

        var json = new Option<bool>("--json") { Description = "print JSON instead of a table" };
        var ls = new Command("ls", "List running and recently finished operations, newest first") { json };
        ls.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            using var client = StrataCli.Client(parse);
            var list = await client.ListOperationsAsync(ct);
            if (parse.GetValue(json))
            {
                StrataCli.WriteJson(list, StrataJsonContext.Default.OperationList);
                return 0;
            }
            // In a cluster the list is every node's: a NODE column says where each runs.
            var cluster = list.Unanswered is not null;
            var table = cluster
                ? InstanceCommands.NewTable("ID", "KIND", "TARGET", "STATUS", "PROGRESS", "NODE", "CREATED")
                : InstanceCommands.NewTable("ID", "KIND", "TARGET", "STATUS", "PROGRESS", "CREATED");
            foreach (var o in list.Items)
            {
                string[] cells = cluster
                    ? [o.Id, o.Kind, o.Target, o.Status, Progress(o), o.Node ?? "", StrataCli.Ago(o.CreatedAt)]
                    : [o.Id, o.Kind, o.Target, o.Status, Progress(o), StrataCli.Ago(o.CreatedAt)];
                table.AddRow([.. cells.Select(InstanceCommands.Cell)]);
            }
            AnsiConsole.Write(table);
            foreach (var node in list.Unanswered ?? [])
            {
                Console.Error.WriteLine($"not listed: the operations of node {node}");
            }
            return 0;
        }));
        operation.Subcommands.Add(ls);
        operation.Subcommands.Add(One("show", "Show one operation", (c, id, ct) => c.GetOperationAsync(id, ct)));
        operation.Subcommands.Add(One("wait", "Wait until an operation has finished, then show it", (c, id, ct) => c.WaitOperationAsync(id, ct: ct)));
        operation.Subcommands.Add(One("cancel", "Cancel a running operation (answers once it has stopped)", (c, id, ct) => c.CancelOperationAsync(id, ct)));
        return operation;
    }

    private static Command One(string verb, string description, Func<Client.StrataClient, string, CancellationToken, Task<OperationInfo>> call)
    {
        var id = new Argument<string>("id");
        var json = new Option<bool>("--json") { Description = "print JSON" };
        var command = new Command(verb, description) { id, json };
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            using var client = StrataCli.Client(parse);
            var o = await call(client, parse.GetValue(id)!, ct);
            if (parse.GetValue(json))
            {
                StrataCli.WriteJson(o, StrataJsonContext.Default.OperationInfo);
            }
            else
            {
                Console.WriteLine($"{o.Id} {o.Kind} {o.Target}: {o.Status} {Progress(o)}".TrimEnd());
                if (o.Error is { } e)
                {
                    Console.WriteLine($"  {e.Detail}");
                }
            }
            return o.Status is OperationStatusNames.Failed ? StrataCli.ExitError : 0;
        }));
        return command;
    }

    /// <summary>
    /// While the returned registration lives, Ctrl-C cancels <paramref name="operation"/> on the daemon (which cleans up)
    /// and the caller keeps following it until it reports "cancelled"; a second Ctrl-C leaves at once (exit 130).
    /// </summary>
    internal static IDisposable CancelOnInterrupt(Client.StrataClient client, OperationInfo operation, string cancelling)
    {
        var interrupted = 0;
        return PosixSignalRegistration.Create(PosixSignal.SIGINT, context =>
        {
            context.Cancel = true;
            if (Interlocked.Exchange(ref interrupted, 1) == 0)
            {
                Console.Error.WriteLine($"{Environment.NewLine}strata: {cancelling} (press Ctrl-C again to leave it running)");
                _ = client.CancelOperationAsync(operation.Id, CancellationToken.None).ContinueWith(_ => { }, TaskScheduler.Default);
            }
            else
            {
                Environment.Exit(130);
            }
        });
    }

    /// <summary>A pull's bytes, or a create's current step in words.</summary>
    private static string Progress(OperationInfo o) =>
        o.Progress.Total > 0 && !o.Progress.Items.Any(i => i.Kind == "step") ? $"{ImageCommands.Human(o.Progress.Current)}/{ImageCommands.Human(o.Progress.Total)}" + (o.Progress.Message is { } m ? $" {m}" : "")
            : o.Progress.Message ?? "";
}
