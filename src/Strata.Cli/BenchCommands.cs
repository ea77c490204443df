using System.CommandLine;
using System.Text.Json;
using Spectre.Console;
using Strata.Bench.Core;
using Strata.Contracts;

namespace Strata.Cli;

/// <summary><c>strata bench</c>: the article's comparison tables, measured on this machine (docs/bench.md).</summary>
internal static partial class BenchCommands
{
    /// <summary>How long Ctrl-C waits for the bench to remove its instances before the process ends anyway.</summary>
    public static readonly TimeSpan CleanupGrace = TimeSpan.FromSeconds(120);

    public static Command Build()
    {
        var quick = new Option<bool>("--quick") { Description = "about a minute: fewer rounds, one boot per VM tier, a shorter CPU kernel" };
        var json = new Option<bool>("--json") { Description = "print the report as JSON (progress goes to stderr)" };
        var report = new Option<string?>("--report") { Description = "also write a self-contained HTML report with charts to FILE" };
        var tiers = new Option<string[]>("--tiers") { Description = "tiers to measure, e.g. process,container (default: every tier available here)", AllowMultipleArgumentsPerToken = true };
        var runs = new Option<int?>("--runs") { Description = "start-latency rounds for fast tiers (default 20, quick 5); VM tiers get a quarter" };
        var noBaselines = new Option<bool>("--no-baselines") { Description = "skip podman, raw runc and raw QEMU" };
        var noSave = new Option<bool>("--no-save") { Description = "do not store the results as this host's numbers for 'strata advise'" };
        var budget = new Option<string?>("--budget") { Description = "memory budget for the density estimate, e.g. 8G (default: half the available memory)" };
        var clean = new Option<bool>("--clean") { Description = "only remove the instances an interrupted bench run left behind (every run does this first), then exit" };
        var command = new Command("bench", "Measure every tier here side by side with podman, raw runc and raw QEMU: start time, memory, size, density, CPU overhead, snapshots")
        {
            quick, json, report, tiers, runs, noBaselines, noSave, budget, clean,
        };
        foreach (var option in MigrationOptions())
        {
            command.Options.Add(option);
        }
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            if (parse.GetValue(clean))
            {
                using var cleaner = StrataCli.Client(parse);
                var removed = await BenchEngine.RemoveLeftoversAsync(cleaner, ct);
                Console.WriteLine(removed.Count > 0 ? BenchEngine.LeftoversRemoved(removed) : "no leftovers of an interrupted bench run");
                return 0;
            }
            if (parse.GetValue(s_migration))
            {
                return await RunMigrationAsync(parse, parse.GetValue(json), parse.GetValue(report), ct);
            }
            var options = parse.GetValue(quick) ? BenchOptions.QuickProfile : new BenchOptions();
            if (parse.GetValue(runs) is { } n)
            {
                if (n < 1)
                {
                    throw StrataException.Invalid("--runs", "must be at least 1");
                }
                options = options with { Runs = n, SlowRuns = Math.Max(1, n / 4) };
            }
            var selected = (parse.GetValue(tiers) ?? []).SelectMany(t => t.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
            options = options with
            {
                Tiers = selected.Count > 0 ? selected : null,
                Baselines = !parse.GetValue(noBaselines),
                DensityBudgetBytes = parse.GetValue(budget) is { } b ? Sizes.Parse("--budget", b) : null,
            };
            var asJson = parse.GetValue(json);
            using var client = StrataCli.Client(parse);
            if (!client.Endpoint.StartsWith("unix:", StringComparison.Ordinal))
            {
                // Memory, baselines and the raw QEMU run are read and run on this machine: they must be the daemon's.
                throw StrataException.Invalid("--host", "strata bench measures the machine it runs on: run it on the daemon's host, over its unix socket");
            }
            var engineProbe = new ProcHostProbe();
            BenchReport result;
            if (!asJson && !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive)
            {
                result = await AnsiConsole.Progress()
                    .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                    .StartAsync(async ctx =>
                    {
                        var task = ctx.AddTask("starting", maxValue: 1);
                        var progress = new Inline(p =>
                        {
                            task.MaxValue = Math.Max(1, p.Total);
                            task.Value = p.Done;
                            task.Description = Markup.Escape(p.Message.Length > 70 ? p.Message[..70] : p.Message);
                        });
                        var r = await new BenchEngine(client, options, engineProbe, progress).RunAsync(ct);
                        task.Value = task.MaxValue;
                        return r;
                    });
            }
            else
            {
                // Not a terminal (CI, pipes): one plain line per step, on stderr so stdout stays the result.
                var progress = new Inline(p => Console.Error.WriteLine($"[{p.Done}/{p.Total}] {p.Message}"));
                result = await new BenchEngine(client, options, engineProbe, progress).RunAsync(ct);
            }

            var text = JsonSerializer.Serialize(result, BenchJsonContext.Default.BenchReport);
            string? saved = null;
            if (!parse.GetValue(noSave))
            {
                try
                {
                    await client.SaveBenchResultsAsync(text, ct);
                    saved = "stored as this host's numbers: 'strata advise' quotes them";
                }
                catch (Strata.Client.StrataApiException e)
                {
                    saved = $"not stored: {e.Message}";
                }
            }
            if (parse.GetValue(report) is { } file)
            {
                // The measurements are done and stored: a page that cannot be written is said, the tables still print.
                WriteReport(file, () => HtmlReport.Render(result));
            }
            if (asJson)
            {
                Console.Out.Write(text);
                Console.Out.Write('\n');
                if (saved is not null)
                {
                    Console.Error.WriteLine($"strata: {saved}");
                }
                return 0;
            }
            Print(result);
            if (saved is not null)
            {
                Console.WriteLine(saved);
            }
            if (parse.GetValue(report) is { } written)
            {
                Console.WriteLine($"report: {Path.GetFullPath(written)}");
            }
            return 0;
        }));
        return command;
    }

    private static void Print(BenchReport report)
    {
        foreach (var line in BenchTables.MachineLines(report))
        {
            Console.WriteLine(line);
        }
        foreach (var table in new[] { BenchTables.Article(report), BenchTables.StartLatency(report) })
        {
            PrintTable(table);
        }
        foreach (var note in report.Notes)
        {
            Console.WriteLine("note: " + note);
        }
        foreach (var t in report.Targets)
        {
            foreach (var e in t.Errors)
            {
                Console.WriteLine($"error ({t.Name}): {e}");
            }
        }
    }

    /// <summary>Reports synchronously on the caller's thread (Progress&lt;T&gt; would post to the thread pool and reorder lines).</summary>
    private sealed class Inline(Action<BenchProgress> report) : IProgress<BenchProgress>
    {
        public void Report(BenchProgress value) => report(value);
    }
}
