using System.CommandLine;
using System.Text;
using System.Text.Json;
using Spectre.Console;
using Strata.Bench.Core;
using Strata.Client;
using Strata.Contracts;

namespace Strata.Cli;

/// <summary><c>strata bench --migration</c>: live moves of an idle VM between this daemon and another, measured (docs/bench.md).</summary>
internal static partial class BenchCommands
{
    private static readonly Option<bool> s_migration = new("--migration") { Description = "measure live moves instead: an idle 256 MiB busybox VM moved back and forth between this daemon and a target (--to-address/--to-token, or --node)" };
    private static readonly Option<string?> s_toAddress = new("--to-address") { Description = "with --migration: the target daemon's API address (its --listen), e.g. http://10.0.0.2:7443" };
    private static readonly Option<string?> s_toToken = new("--to-token") { Description = "with --migration: a token the target accepts (its admin token; default $STRATA_MOVE_TOKEN)" };
    private static readonly Option<string?> s_fromAddress = new("--from-address") { Description = "with --migration --to-address: this daemon's --listen address, for the moves back (needed for more than one move)" };
    private static readonly Option<string?> s_fromToken = new("--from-token") { Description = "with --migration: a token this daemon accepts for the moves back (default: its admin token, ROOT/admin.token)" };
    private static readonly Option<string?> s_node = new("--node") { Description = "with --migration, in a cluster: the node to move to and back from, by name" };
    private static readonly Option<int> s_moves = new("--moves") { Description = "with --migration: how many moves (default 4; odd counts end on the target)", DefaultValueFactory = _ => 4 };

    private static IEnumerable<Option> MigrationOptions() => [s_migration, s_toAddress, s_toToken, s_fromAddress, s_fromToken, s_node, s_moves];

    private static async Task<int> RunMigrationAsync(ParseResult parse, bool asJson, string? reportFile, CancellationToken ct)
    {
        var moves = parse.GetValue(s_moves);
        if (moves < 1)
        {
            throw StrataException.Invalid("--moves", "must be at least 1");
        }
        using var client = StrataCli.Client(parse);
        var node = parse.GetValue(s_node);
        var toAddress = parse.GetValue(s_toAddress);
        StrataClient? remote = null;
        MigrationSide here, target;
        try
        {
            if (node is not null)
            {
                if (toAddress is not null)
                {
                    throw StrataException.Invalid("--node", "name either a node (in a cluster) or --to-address, not both");
                }
                // In a cluster every node relays requests about an instance to the node that runs it: one client serves both sides.
                using var status = JsonDocument.Parse(await client.ClusterStatusJsonAsync(ct));
                var self = status.RootElement.GetProperty("node").GetString()!;
                here = new MigrationSide(self, client, new MoveRequest { Node = self });
                target = new MigrationSide(node, client, new MoveRequest { Node = node });
            }
            else
            {
                if (string.IsNullOrWhiteSpace(toAddress))
                {
                    throw StrataException.Invalid("--to-address", "strata bench --migration needs a target: --to-address http://HOST:PORT --to-token TOKEN (another stratad's --listen address), or --node NAME in a cluster");
                }
                var toToken = parse.GetValue(s_toToken) ?? Environment.GetEnvironmentVariable("STRATA_MOVE_TOKEN")
                    ?? throw StrataException.Invalid("--to-token", "name a token the target daemon accepts (its admin token, ROOT/admin.token there), or set $STRATA_MOVE_TOKEN");
                var fromAddress = parse.GetValue(s_fromAddress);
                if (moves > 1 && string.IsNullOrWhiteSpace(fromAddress))
                {
                    throw StrataException.Invalid("--from-address", "the moves back need this daemon's --listen address (e.g. --from-address http://10.0.0.1:7443); or measure a single move: --moves 1");
                }
                var fromToken = parse.GetValue(s_fromToken);
                if (fromToken is null && fromAddress is not null)
                {
                    var root = (await client.InfoAsync(ct)).Root;
                    fromToken = File.ReadAllText(Path.Combine(root, "admin.token")).Trim();
                }
                var address = toAddress.Contains("://", StringComparison.Ordinal) ? toAddress : "http://" + toAddress;
                remote = new StrataClient(new ClientOptions { Host = new Uri(address), Token = toToken, Project = client.Project });
                here = new MigrationSide("here", client, new MoveRequest { ToAddress = fromAddress, ToToken = fromToken });
                target = new MigrationSide(new Uri(address).Authority, remote, new MoveRequest { ToAddress = address, ToToken = toToken });
            }
            var progress = new InlineText(line => Console.Error.WriteLine("strata bench: " + line));
            var report = await MigrationBench.RunAsync(here, target, moves, progress, ct);
            if (reportFile is not null)
            {
                WriteReport(reportFile, () => MigrationHtml(report));
            }
            if (asJson)
            {
                Console.Out.Write(JsonSerializer.Serialize(report, MigrationJsonContext.Default.MigrationReport));
                Console.Out.Write('\n');
                return 0;
            }
            PrintTable(MigrationBench.Table(report));
            Console.WriteLine($"load average {report.Load}; guest downtime: the gap between the last counter line (every 10 ms) read on the source and the first on the target");
            return 0;
        }
        finally
        {
            remote?.Dispose();
        }
    }

    private static string MigrationHtml(MigrationReport report)
    {
        var html = new StringBuilder();
        HtmlParts.Head(html, "strata bench --migration");
        HtmlParts.Table(html, MigrationBench.Table(report));
        HtmlParts.Chart(html, "migration-downtime", "Guest-seen downtime per move", [.. report.Moves.Select(m =>
            new ChartBar($"move {m.Number}", m.GuestDowntimeMs, BenchTables.Ms(m.GuestDowntimeMs), "tier"))], log: false);
        html.Append("<p class=\"note\">Load average ").Append(HtmlParts.E(report.Load)).Append(". Guest downtime is the gap between the last counter line (one every 10 ms) the source's log recorded and the first the target's did.</p>\n</body></html>\n");
        return html.ToString();
    }

    /// <summary>Writes an HTML report; a failure to write it is said, not fatal (the numbers are printed anyway).</summary>
    private static void WriteReport(string file, Func<string> render)
    {
        try
        {
            var full = Path.GetFullPath(file);
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            File.WriteAllText(full, render());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"strata: cannot write the report {file}: {e.Message}");
        }
    }

    private static void PrintTable(TextTable table)
    {
        Console.WriteLine();
        Console.WriteLine(table.Title);
        var t = InstanceCommands.NewTable([.. table.Header.Select(h => h.ToUpperInvariant())]);
        foreach (var row in table.Rows)
        {
            t.AddRow([.. row.Select(InstanceCommands.Cell)]);
        }
        AnsiConsole.Write(t);
    }

    private sealed class InlineText(Action<string> report) : IProgress<string>
    {
        public void Report(string value) => report(value);
    }
}
