using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Strata.Contracts;

namespace Strata.Cli;

/// <summary><c>info</c>, <c>events</c>, <c>version</c>.</summary>
internal static class SystemCommands
{
    public static Command Info()
    {
        var json = new Option<bool>("--json") { Description = "print JSON" };
        var command = new Command("info", "Daemon version, host, store, and which tiers are available here (and why not)") { json };
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            using var client = StrataCli.Client(parse);
            var info = await client.InfoAsync(ct);
            if (parse.GetValue(json))
            {
                StrataCli.WriteJson(info, StrataJsonContext.Default.DaemonInfo);
                return 0;
            }
            Console.WriteLine($"Strata {info.Version} — daemon at {client.Endpoint}");
            Console.WriteLine($"Host: {info.Host.Os} {info.Host.Kernel} {info.Host.Arch}, {info.Host.Cpus} CPUs, {info.Host.MemoryBytes / (1024 * 1024)} MiB, cgroups {info.Host.Cgroups}");
            Console.WriteLine($"Store: {info.Store}; root {info.Root}; {info.Instances} instances");
            Console.WriteLine();
            var table = InstanceCommands.NewTable("TIER", "AVAILABLE", "ENGINE", "DETAILS");
            foreach (var t in info.Tiers)
            {
                table.AddRow(InstanceCommands.Cell(t.Tier), InstanceCommands.Cell(t.Available ? "yes" : "no"), InstanceCommands.Cell(t.Engine ?? "-"), InstanceCommands.Cell(t.Reason));
            }
            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }

    public static Command Events()
    {
        var json = new Option<bool>("--json") { Description = "one JSON object per line" };
        var command = new Command("events", "Stream lifecycle events until interrupted") { json };
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            using var client = StrataCli.Client(parse);
            await foreach (var e in client.EventsAsync(ct))
            {
                if (parse.GetValue(json))
                {
                    StrataCli.WriteJson(e, StrataJsonContext.Default.InstanceEvent);
                }
                else
                {
                    var code = e.ExitCode is { } c ? $" exit={c}" : "";
                    var reason = e.Reason is { } r ? $" reason=\"{r}\"" : "";
                    var detail = e.Detail is { } d ? $" detail=\"{d}\"" : "";
                    Console.WriteLine($"{e.Time.ToLocalTime().ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture)} {e.Type,-9} {e.Project}/{e.Instance} tier={e.Tier} state={e.State}{code}{reason}{detail}");
                }
            }
            return 0;
        }));
        return command;
    }

    public static Command Version()
    {
        var command = new Command("version", "Print the CLI version");
        command.SetAction(_ =>
        {
            Console.WriteLine($"strata {typeof(SystemCommands).Assembly.GetName().Version?.ToString(3)}");
            return 0;
        });
        return command;
    }
}
