using System.CommandLine;
using Spectre.Console;
using Strata.Contracts;

namespace Strata.Cli;

/// <summary><c>strata network create|ls|inspect|rm|connect|disconnect</c>.</summary>
internal static class NetworkCommands
{
    private static Option<bool> Json() => new("--json") { Description = "print JSON instead of a table" };

    public static Command Build()
    {
        var network = new Command("network", "Manage bridge networks: instances on one network reach each other by name; networks are isolated from each other");
        network.Subcommands.Add(Create());
        network.Subcommands.Add(List());
        network.Subcommands.Add(Inspect());
        network.Subcommands.Add(Remove());
        network.Subcommands.Add(Connect());
        network.Subcommands.Add(Disconnect());
        return network;
    }

    private static Command Create()
    {
        var name = new Argument<string>("name") { Description = "network name (1-32 of a-z, 0-9, '-')" };
        var subnet = new Option<string?>("--subnet") { Description = "IPv4 CIDR, e.g. 10.78.5.0/24 (default: a free /24 of 10.78.0.0/16)" };
        var @internal = new Option<bool>("--internal") { Description = "no NAT and no default route: members reach each other and the host only" };
        var allowHost = new Option<bool>("--allow-host")
        {
            Description = "members may reach services on the host's own addresses (host administrators; a network of a project other than 'default' is kept off them otherwise)",
        };
        var json = Json();
        var command = new Command("create", "Create a bridge network") { name, subnet, @internal, allowHost, json };
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            using var client = StrataCli.Client(parse);
            var created = await client.CreateNetworkAsync(new CreateNetworkRequest
            {
                Name = parse.GetValue(name)!,
                Subnet = parse.GetValue(subnet),
                Internal = parse.GetValue(@internal),
                AllowHost = parse.GetValue(allowHost),
            }, ct);
            if (parse.GetValue(json))
            {
                StrataCli.WriteJson(created, StrataJsonContext.Default.NetworkInfo);
            }
            else
            {
                Console.WriteLine(created.Name);
            }
            return 0;
        }));
        return command;
    }

    private static Command List()
    {
        var json = Json();
        var command = new Command("ls", "List networks") { json };
        command.Aliases.Add("list");
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            using var client = StrataCli.Client(parse);
            var list = await client.ListNetworksAsync(ct);
            if (parse.GetValue(json))
            {
                StrataCli.WriteJson(list, StrataJsonContext.Default.NetworkList);
                return 0;
            }
            var table = InstanceCommands.NewTable("NAME", "SUBNET", "BRIDGE", "NAT", "MEMBERS");
            foreach (var n in list.Items)
            {
                table.AddRow(InstanceCommands.Cell(n.Default ? n.Name + " (default)" : n.Name), InstanceCommands.Cell(n.Subnet), InstanceCommands.Cell(n.Bridge),
                    InstanceCommands.Cell(n.Internal ? "off" : "on"), InstanceCommands.Cell(n.Members.Count.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            }
            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }

    private static Command Inspect()
    {
        var name = new Argument<string>("name");
        var command = new Command("inspect", "Show a network and its members (JSON)") { name };
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            using var client = StrataCli.Client(parse);
            StrataCli.WriteJson(await client.InspectNetworkAsync(parse.GetValue(name)!, ct), StrataJsonContext.Default.NetworkInfo);
            return 0;
        }));
        return command;
    }

    private static Command Remove()
    {
        var names = new Argument<string[]>("name") { Arity = ArgumentArity.OneOrMore };
        var command = new Command("rm", "Remove networks (refused while instances are attached)") { names };
        command.Aliases.Add("remove");
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            using var client = StrataCli.Client(parse);
            foreach (var n in parse.GetValue(names)!)
            {
                await client.RemoveNetworkAsync(n, ct);
                Console.WriteLine(n);
            }
            return 0;
        }));
        return command;
    }

    private static Command Connect()
    {
        var network = new Argument<string>("network") { Description = "a network of the project" };
        var instance = new Argument<string>("instance") { Description = "a container created with --network (created, running or stopped)" };
        var alias = new Option<string[]>("--alias") { Description = "another name the network's members reach the instance by (repeatable)", AllowMultipleArgumentsPerToken = false };
        var json = Json();
        var command = new Command("connect", "Join an instance to another network (container tier): a new interface, its name on that network's hosts files; kept across restarts")
        {
            network, instance, alias, json,
        };
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            using var client = StrataCli.Client(parse);
            var info = await client.ConnectNetworkAsync(parse.GetValue(instance)!, new ConnectNetworkRequest
            {
                Network = parse.GetValue(network)!,
                Aliases = parse.GetValue(alias) is { Length: > 0 } aliases ? aliases : null,
            }, ct);
            WriteInstance(parse, json, info);
            return 0;
        }));
        return command;
    }

    private static Command Disconnect()
    {
        var network = new Argument<string>("network") { Description = "a network the instance joined with 'network connect'" };
        var instance = new Argument<string>("instance");
        var json = Json();
        var command = new Command("disconnect", "Take an instance off a network it joined with 'network connect'") { network, instance, json };
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            using var client = StrataCli.Client(parse);
            WriteInstance(parse, json, await client.DisconnectNetworkAsync(parse.GetValue(instance)!, parse.GetValue(network)!, ct));
            return 0;
        }));
        return command;
    }

    /// <summary>The instance as JSON (<c>--json</c>), or its name and the networks it joined after create.</summary>
    private static void WriteInstance(ParseResult parse, Option<bool> json, InstanceInfo info)
    {
        if (parse.GetValue(json))
        {
            StrataCli.WriteJson(info, StrataJsonContext.Default.InstanceInfo);
            return;
        }
        var connected = info.Details?.GetValueOrDefault(Contracts.Drivers.INetworkConnectDriver.ConnectedKey);
        Console.WriteLine(connected is null ? info.Name : $"{info.Name}: {connected}");
    }
}
