using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Strata.Contracts;

namespace Strata.Cli;

/// <summary><c>strata snapshot create|ls|restore|rm INSTANCE [SNAPSHOT]</c>.</summary>
internal static class SnapshotCommands
{
    public static Command Build()
    {
        var command = new Command("snapshot", "Save an instance's state and start it again from it (tiers that support snapshots)");
        command.Subcommands.Add(Create());
        command.Subcommands.Add(List());
        command.Subcommands.Add(Restore());
        command.Subcommands.Add(Remove());
        return command;
    }

    /// <summary><c>strata resize NAME [--memory 512M] [--cpus 2]</c>.</summary>
    public static Command Resize()
    {
        var instance = new Argument<string>("instance");
        var memory = new Option<string?>("--memory", "-m") { Description = "new memory size, e.g. 512M (vm: between 64M and the size it booted with)" };
        var cpus = new Option<double?>("--cpus") { Description = "new CPU limit in cores: container and process take hundredths (0.25), vm and sandbox whole vCPUs (vm: only up, to the maximum set at create)" };
        var json = new Option<bool>("--json") { Description = "print JSON" };
        var command = new Command("resize", "Change an instance's memory and vCPUs without restarting it (vm: balloon and hot-plug; a cold-booted sandbox: balloon; container and process: cgroup limits, kept for later starts)") { instance, memory, cpus, json };
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            using var client = StrataCli.Client(parse);
            var mem = parse.GetValue(memory);
            var r = await client.ResizeAsync(parse.GetValue(instance)!, mem is null ? null : StrataCli.ParseSize("--memory", mem), parse.GetValue(cpus), ct);
            if (parse.GetValue(json))
            {
                StrataCli.WriteJson(r, StrataJsonContext.Default.ResizeResponse);
            }
            else
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"memory {r.MemoryBytes / (1024 * 1024)}M of {r.MaxMemoryBytes / (1024 * 1024)}M, cpus {r.Cpus:0.##} of {r.MaxCpus:0.##}"));
                if (r.Note is not null)
                {
                    Console.WriteLine(r.Note);
                }
            }
            return 0;
        }));
        return command;
    }

    private static Command Create()
    {
        var instance = new Argument<string>("instance");
        var snapshot = new Argument<string?>("snapshot") { Description = "snapshot name (generated when omitted)", Arity = ArgumentArity.ZeroOrOne };
        var json = new Option<bool>("--json") { Description = "print JSON" };
        var command = new Command("create", "Snapshot an instance (wasm: a running stepped module's memory and globals)") { instance, snapshot, json };
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            using var client = StrataCli.Client(parse);
            var info = await client.CreateSnapshotAsync(parse.GetValue(instance)!, parse.GetValue(snapshot), ct);
            if (parse.GetValue(json))
            {
                StrataCli.WriteJson(info, StrataJsonContext.Default.SnapshotInfo);
            }
            else
            {
                Console.WriteLine(info.Name);
            }
            return 0;
        }));
        return command;
    }

    private static Command List()
    {
        var instance = new Argument<string>("instance");
        var json = new Option<bool>("--json") { Description = "print JSON" };
        var command = new Command("ls", "List an instance's snapshots") { instance, json };
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            using var client = StrataCli.Client(parse);
            var list = await client.ListSnapshotsAsync(parse.GetValue(instance)!, ct);
            if (parse.GetValue(json))
            {
                StrataCli.WriteJson(list, StrataJsonContext.Default.SnapshotList);
                return 0;
            }
            var table = InstanceCommands.NewTable("NAME", "KIND", "SIZE", "CREATED", "DESCRIPTION");
            foreach (var s in list.Items)
            {
                table.AddRow(InstanceCommands.Cell(s.Name), InstanceCommands.Cell(s.Kind), InstanceCommands.Cell(s.SizeBytes.ToString(CultureInfo.InvariantCulture)),
                    InstanceCommands.Cell(StrataCli.Ago(s.CreatedAt)), InstanceCommands.Cell(s.Description ?? ""));
            }
            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }

    private static Command Restore()
    {
        var instance = new Argument<string>("instance");
        var snapshot = new Argument<string>("snapshot");
        var command = new Command("restore", "Start a stopped instance again from a snapshot") { instance, snapshot };
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            using var client = StrataCli.Client(parse);
            var info = await client.RestoreSnapshotAsync(parse.GetValue(instance)!, parse.GetValue(snapshot)!, ct);
            Console.WriteLine(info.Name);
            return 0;
        }));
        return command;
    }

    private static Command Remove()
    {
        var instance = new Argument<string>("instance");
        var snapshot = new Argument<string>("snapshot");
        var command = new Command("rm", "Remove a snapshot") { instance, snapshot };
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            using var client = StrataCli.Client(parse);
            await client.DeleteSnapshotAsync(parse.GetValue(instance)!, parse.GetValue(snapshot)!, ct);
            Console.WriteLine(parse.GetValue(snapshot));
            return 0;
        }));
        return command;
    }
}
