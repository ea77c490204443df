using System.CommandLine;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Spectre.Console;
using Strata.Contracts;

namespace Strata.Cli;

/// <summary>
/// <c>strata cluster init|join|status</c> and <c>strata node ls|inspect|drain|undrain|label</c> (docs/cluster.md).
/// Status and nodes come from any node of the cluster; each verb takes <c>--json</c>.
/// </summary>
internal static class ClusterCommands
{
    private static Option<bool> Json() => new("--json") { Description = "print JSON" };

    public static Command Cluster()
    {
        var command = new Command("cluster", "Many hosts as one Strata, on etcd: create the cluster token, join, status");
        command.Subcommands.Add(Init());
        command.Subcommands.Add(Join());
        command.Subcommands.Add(Status());
        return command;
    }

    public static Command Node()
    {
        var command = new Command("node", "The nodes of the cluster");
        var json = Json();
        var ls = new Command("ls", "List the nodes: status, free resources, tiers, instances") { json };
        ls.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            using var client = StrataCli.Client(parse);
            var text = await client.NodesJsonAsync(ct);
            if (parse.GetValue(json))
            {
                Console.WriteLine(text);
                return 0;
            }
            PrintNodes(JsonDocument.Parse(text).RootElement);
            return 0;
        }));
        command.Subcommands.Add(ls);
        command.Subcommands.Add(NodeVerb("inspect", "Show one node as JSON", (c, n, ct) => c.NodeJsonAsync(n, ct)));
        command.Subcommands.Add(DrainCommand.Drain());
        command.Subcommands.Add(NodeVerb("undrain", "Let the scheduler place on the node again", (c, n, ct) => c.ChangeNodeJsonAsync(n, "undrain", null, ct)));
        var name = new Argument<string>("node");
        var pairs = new Argument<string[]>("label") { Description = "KEY=VALUE to set, KEY- to remove", Arity = ArgumentArity.OneOrMore };
        var json2 = Json();
        var label = new Command("label", "Set or remove labels of a node (for --constraint label=value)") { name, pairs, json2 };
        label.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            var changes = new Dictionary<string, string?>(StringComparer.Ordinal);
            foreach (var p in parse.GetValue(pairs)!)
            {
                var eq = p.IndexOf('=', StringComparison.Ordinal);
                if (p.EndsWith('-') && eq < 0)
                {
                    changes[p[..^1]] = null;
                }
                else if (eq > 0)
                {
                    changes[p[..eq]] = p[(eq + 1)..];
                }
                else
                {
                    throw StrataException.Invalid("label", $"'{p}' is neither KEY=VALUE nor KEY-");
                }
            }
            using var client = StrataCli.Client(parse);
            var body = new System.Text.StringBuilder("{\"labels\":{");
            body.AppendJoin(',', changes.Select(c => Quote(c.Key) + ":" +
                (c.Value is null ? "null" : Quote(c.Value))));
            body.Append("}}");
            var text = await client.ChangeNodeJsonAsync(parse.GetValue(name)!, "labels", body.ToString(), ct);
            Console.WriteLine(parse.GetValue(json2) ? text : "labels of " + parse.GetValue(name) + " changed");
            return 0;
        }));
        command.Subcommands.Add(label);
        return command;
    }

    private static Command NodeVerb(string verb, string description, Func<Client.StrataClient, string, CancellationToken, Task<string>> call)
    {
        var name = new Argument<string>("node");
        var json = Json();
        var command = new Command(verb, description) { name, json };
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            using var client = StrataCli.Client(parse);
            var text = await call(client, parse.GetValue(name)!, ct);
            if (parse.GetValue(json) || verb == "inspect")
            {
                Console.WriteLine(text);
            }
            else
            {
                PrintNodes(JsonDocument.Parse("[" + text + "]").RootElement);
            }
            return 0;
        }));
        return command;
    }

    private static void PrintNodes(JsonElement nodes)
    {
        var table = InstanceCommands.NewTable("NODE", "STATUS", "ADDRESS", "CPU FREE", "MEMORY FREE", "TIERS", "INSTANCES", "GUEST CPU", "LABELS");
        foreach (var n in nodes.EnumerateArray())
        {
            string S(string p) => n.TryGetProperty(p, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "-";
            var free = n.TryGetProperty("free", out var f) ? f : default;
            var cpu = free.ValueKind == JsonValueKind.Object ? (free.GetProperty("cpuMillis").GetInt64() / 1000.0).ToString("0.##", CultureInfo.InvariantCulture) : "-";
            var mem = free.ValueKind == JsonValueKind.Object ? Gib(free.GetProperty("memoryBytes").GetInt64()) : "-";
            var tiers = n.TryGetProperty("tiers", out var t) ? string.Join(",", t.EnumerateArray().Select(x => x.GetProperty("tier").GetString())) : "";
            var labels = n.TryGetProperty("labels", out var l) ? string.Join(",", l.EnumerateObject().Select(x => x.Name + "=" + x.Value.GetString())) : "";
            var leader = n.TryGetProperty("leader", out var ld) && ld.GetBoolean() ? " (leader)" : "";
            var guestCpu = n.TryGetProperty("cpu", out var c) && c.ValueKind == JsonValueKind.Object
                ? (c.TryGetProperty("accelerator", out var a) ? a.GetString() : "?") + " " + (c.TryGetProperty("vendor", out var v) ? v.GetString() : "")
                    + (c.TryGetProperty("models", out var m) && m.GetArrayLength() > 0 ? $" ({m.GetArrayLength()} models)" : "")
                : "-";
            table.AddRow(Markup.Escape(S("name") + leader), Markup.Escape(S("status")), Markup.Escape(S("address")), cpu, Markup.Escape(mem),
                Markup.Escape(tiers), n.GetProperty("instances").GetInt32().ToString(CultureInfo.InvariantCulture), Markup.Escape(guestCpu.Trim()), Markup.Escape(labels));
        }
        AnsiConsole.Write(table);
    }

    /// <summary>The cluster's guest CPU model as <c>cluster status</c> prints it.</summary>
    private static string CpuBaselineText(JsonElement b)
    {
        var nodes = b.TryGetProperty("nodes", out var n) ? string.Join(", ", n.EnumerateArray().Select(x => x.GetString())) : "";
        if (b.TryGetProperty("conflict", out var conflict))
        {
            return "none: " + conflict.GetString();
        }
        return b.TryGetProperty("model", out var m)
            ? $"{m.GetString()} (KVM nodes: {nodes})"
            : "qemu64 (no node has KVM: TCG runs QEMU's default model on every node)";
    }

    private static Command Status()
    {
        var json = Json();
        var command = new Command("status", "The cluster: nodes, scheduler leader, etcd members, replacements, recent events") { json };
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            using var client = StrataCli.Client(parse);
            var text = await client.ClusterStatusJsonAsync(ct);
            if (parse.GetValue(json))
            {
                Console.WriteLine(text);
                return 0;
            }
            var s = JsonDocument.Parse(text).RootElement;
            Console.WriteLine($"node:    {s.GetProperty("node").GetString()}");
            Console.WriteLine($"leader:  {(s.TryGetProperty("leader", out var l) ? l.GetString() : "(none elected)")}");
            Console.WriteLine($"etcd:    {string.Join(", ", s.GetProperty("etcd").EnumerateArray().Select(e => e.GetString()))}");
            if (s.TryGetProperty("replacementsFrozen", out var fr) && fr.GetBoolean())
            {
                Console.WriteLine("replacements: FROZEN (half or more of the nodes are offline)");
            }
            if (s.TryGetProperty("cpuBaseline", out var baseline))
            {
                Console.WriteLine($"guest CPU baseline: {CpuBaselineText(baseline)}");
            }
            PrintNodes(s.GetProperty("nodes"));
            if (s.TryGetProperty("events", out var events))
            {
                foreach (var e in events.EnumerateArray())
                {
                    Console.WriteLine($"{e.GetProperty("at").GetString()}  {e.GetProperty("kind").GetString()}: {e.GetProperty("message").GetString()}");
                }
            }
            return 0;
        }));
        return command;
    }

    private static Command Init()
    {
        var file = new Option<string>("--token-file") { Description = "where to write the cluster token (mode 0600)", DefaultValueFactory = _ => "/etc/strata/cluster.token" };
        var json = Json();
        var command = new Command("init", "Create the cluster token (32 random bytes, hex, file mode 0600) the nodes share; prints how to join") { file, json };
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            var path = parse.GetValue(file)!;
            if (File.Exists(path))
            {
                throw StrataException.Conflict($"{path} exists: a cluster token is already there; copy it to the other nodes, or remove it to make a new one");
            }
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            var token = Convert.ToHexString(RandomNumberGenerator.GetBytes(32)).ToLowerInvariant();
            await using (var f = new FileStream(path, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            }))
            {
                await f.WriteAsync(System.Text.Encoding.ASCII.GetBytes(token + "\n"), ct);
            }
            if (parse.GetValue(json))
            {
                Console.WriteLine("{\"tokenFile\":" + Quote(path) + "}");
                return 0;
            }
            Console.WriteLine($"cluster token written to {path} (0600). Copy it to every node, then on each run:");
            Console.WriteLine(JoinLine("etcd://ETCD1:2379,ETCD2:2379,ETCD3:2379", "NODE", "ADDR:7443", path));
            return 0;
        }));
        return command;
    }

    private static Command Join()
    {
        var etcd = new Option<string>("--etcd") { Description = "the etcd members, etcd://HOST:2379[,HOST:2379…]", Required = true };
        var node = new Option<string>("--node") { Description = "this node's name", Required = true };
        var advertise = new Option<string>("--advertise") { Description = "ADDR:PORT the other nodes reach this node's API on", Required = true };
        var file = new Option<string>("--token-file") { Description = "the cluster token from 'strata cluster init'", DefaultValueFactory = _ => "/etc/strata/cluster.token" };
        var command = new Command("join", "Print the stratad command line that joins this host to the cluster (for its service unit)") { etcd, node, advertise, file };
        command.SetAction(parse =>
        {
            Console.WriteLine(JoinLine(parse.GetValue(etcd)!, parse.GetValue(node)!, parse.GetValue(advertise)!, parse.GetValue(file)!));
            return 0;
        });
        return command;
    }

    private static string Quote(string s) => "\"" + JsonEncodedText.Encode(s).ToString() + "\"";

    private static string Gib(long bytes) => (bytes / (double)(1L << 30)).ToString("0.#", CultureInfo.InvariantCulture) + " GiB";

    private static string JoinLine(string etcd, string node, string advertise, string tokenFile) =>
        $"  stratad --cluster {etcd} --node {node} --listen {advertise} --advertise {advertise} --cluster-token-file {tokenFile} --tls-cert CERT.pem --tls-key KEY.pem";
}
