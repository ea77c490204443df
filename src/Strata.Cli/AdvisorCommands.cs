using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Strata.Client;
using Strata.Contracts;

namespace Strata.Cli;

/// <summary><c>advise</c> (which tier, and why) and <c>apply</c> (create a workload file's workloads), plus the advisor's part of <c>run</c> and <c>inspect</c>.</summary>
internal static class AdvisorCommands
{
    private static Option<bool> Json() => new("--json") { Description = "print JSON instead of tables" };

    /// <summary>The requirement flags of <c>run</c>: deliberately few; a workload file says the rest.</summary>
    internal static Option<string?> IsolationOption() => new("--isolation") { Description = "none | standard | strong: the isolation the workload needs (tier auto picks the tier from it)" };

    internal static Option<string?> TrustOption() => new("--trust") { Description = "trusted | untrusted: untrusted code never runs on process or container" };

    /// <summary>Requirements from <c>run</c>'s flags; null when none was given.</summary>
    internal static WorkloadRequirements? RunRequirements(string? isolation, string? trust) =>
        isolation is null && trust is null ? null : new WorkloadRequirements { Isolation = isolation, Trust = trust };

    public static Command Advise()
    {
        var file = new Argument<string?>("file") { Description = "workload file (YAML or JSON); '-' reads standard input", Arity = ArgumentArity.ZeroOrOne };
        var image = new Option<string?>("--image") { Description = "image of a one-workload request (instead of a file)" };
        var tier = new Option<string?>("--tier") { Description = "check a named tier against the requirements instead of choosing one" };
        var isolation = IsolationOption();
        var trust = TrustOption();
        var os = new Option<string?>("--os") { Description = "linux | windows | freebsd | ..." };
        var arch = new Option<string?>("--arch") { Description = "host | amd64 | arm64 | ..." };
        var fullOs = new Option<bool>("--full-os") { Description = "needs a whole OS environment" };
        var hardware = new Option<string?>("--hardware") { Description = "none | shared | dedicated" };
        var gpus = new Option<int?>("--gpus") { Description = "GPU count" };
        var snapshots = new Option<bool>("--stateful-snapshots") { Description = "needs memory-state snapshots" };
        var budget = new Option<string?>("--startup-budget") { Description = "longest acceptable start, e.g. 50ms, 5s" };
        var json = Json();
        var command = new Command("advise", "Say which tier each workload gets on this host, why (each reason tagged with its rule), what the other tiers would cost, and any fallback")
        {
            file, image, tier, isolation, trust, os, arch, fullOs, hardware, gpus, snapshots, budget, json,
        };
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            using var client = StrataCli.Client(parse);
            AdviseResponse response;
            if (parse.GetValue(file) is { } path)
            {
                var (text, fileName) = ReadFile(path);
                response = await client.AdviseFileAsync(text, fileName, ct);
            }
            else
            {
                var requirements = new WorkloadRequirements
                {
                    Isolation = parse.GetValue(isolation),
                    Trust = parse.GetValue(trust),
                    Os = parse.GetValue(os),
                    Arch = parse.GetValue(arch),
                    FullOs = parse.GetValue(fullOs) ? true : null,
                    Hardware = parse.GetValue(hardware),
                    Gpus = parse.GetValue(gpus),
                    StatefulSnapshots = parse.GetValue(snapshots) ? true : null,
                    StartupBudget = parse.GetValue(budget),
                };
                response = await client.AdviseSpecAsync(new InstanceSpec
                {
                    Name = "workload",
                    Image = parse.GetValue(image),
                    Tier = parse.GetValue(tier),
                    Requirements = requirements == new WorkloadRequirements() ? null : requirements,
                }, ct);
            }
            if (parse.GetValue(json))
            {
                StrataCli.WriteJson(response, StrataJsonContext.Default.AdviseResponse);
            }
            else
            {
                foreach (var item in response.Items)
                {
                    WriteAdvice(item);
                }
            }
            return response.Items.Any(i => i.Problem is not null) ? StrataCli.ExitError : 0;
        }));
        return command;
    }

    public static Command Apply()
    {
        var file = new Argument<string>("file") { Description = "workload file (YAML or JSON); '-' reads standard input" };
        var json = Json();
        var command = new Command("apply", "Create every workload of a file on its advised (or named) tier; identical ones are left alone, changed ones replaced") { file, json };
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            using var client = StrataCli.Client(parse);
            var (text, fileName) = ReadFile(parse.GetValue(file)!);
            var response = await client.ApplyAsync(text, fileName, ct);
            if (parse.GetValue(json))
            {
                StrataCli.WriteJson(response, StrataJsonContext.Default.ApplyResponse);
                return response.Complete ? 0 : StrataCli.ExitError;
            }
            var table = new Table().Border(TableBorder.Simple).AddColumns("NAME", "PROJECT", "TIER", "ACTION", "WHY");
            foreach (var item in response.Items)
            {
                var why = item.Problem?.Detail ?? string.Join(", ", (item.Reasons ?? []).Select(r => r.Rule));
                table.AddRow(Cell(item.Name), Cell(item.Project), Cell(item.Tier ?? "-"), Cell(item.Action), Cell(why));
            }
            AnsiConsole.Write(table);
            if (!response.Complete)
            {
                Console.Error.WriteLine("strata: apply stopped at the first failure; the workloads marked created or replaced above exist, the skipped ones were not attempted");
            }
            return response.Complete ? 0 : StrataCli.ExitError;
        }));
        return command;
    }

    /// <summary>The "Why this tier" section of <c>inspect</c>.</summary>
    internal static void WritePlacement(Placement? placement)
    {
        if (placement is null)
        {
            return;
        }
        AnsiConsole.WriteLine();
        AnsiConsole.Write(new Text($"Why this tier ({placement.Tier}, chosen by the {placement.ChosenBy}){(placement.Cost is null ? "" : $", start {placement.Cost}")}", new Style(decoration: Decoration.Bold)));
        AnsiConsole.WriteLine();
        WriteReasons(placement.Reasons, placement.Fallback, placement.RunnersUp);
    }

    private static void WriteAdvice(AdviseItem item)
    {
        var title = item.Project is null or "default" ? item.Name : $"{item.Project}/{item.Name}";
        if (item.Problem is { } problem)
        {
            AnsiConsole.Write(new Text($"{title}: no tier ({problem.Kind}, {problem.Status.ToString(CultureInfo.InvariantCulture)})", new Style(Color.Red, decoration: Decoration.Bold)));
            AnsiConsole.WriteLine();
            AnsiConsole.Write(new Text($"  {problem.Detail}"));
            AnsiConsole.WriteLine();
            AnsiConsole.WriteLine();
            return;
        }
        AnsiConsole.Write(new Text($"{title}: {item.Tier}{(item.PinCpus ? " (pinned CPUs)" : "")}{(item.Cost is null ? "" : $"   start {item.Cost}")}", new Style(decoration: Decoration.Bold)));
        AnsiConsole.WriteLine();
        WriteReasons(item.Reasons ?? [], item.Fallback, item.RunnersUp);
        AnsiConsole.WriteLine();
    }

    private static void WriteReasons(IReadOnlyList<PlacementReason> reasons, PlacementFallback? fallback, IReadOnlyList<PlacementRunnerUp>? runnersUp)
    {
        var why = new Table().Border(TableBorder.Simple).AddColumns("RULE", "REASON");
        foreach (var reason in reasons)
        {
            why.AddRow(Cell(reason.Rule), Cell(reason.Text));
        }
        AnsiConsole.Write(why);
        if (fallback is not null)
        {
            AnsiConsole.Write(new Text($"  fallback: {fallback.Ideal} → {fallback.Taken}: {fallback.Why}"));
            AnsiConsole.WriteLine();
        }
        if (runnersUp is { Count: > 0 })
        {
            var others = new Table().Border(TableBorder.Simple).AddColumns("RUNNER-UP", "", "COST HERE", "WHY NOT");
            foreach (var r in runnersUp)
            {
                others.AddRow(Cell(r.Tier), Cell(r.Viable ? "possible" : "ruled out"), Cell(r.Cost), Cell(r.WhyNot));
            }
            AnsiConsole.Write(others);
        }
    }

    private static Text Cell(string text) => new(text);

    internal static (string Text, string FileName) ReadFile(string path)
    {
        if (path == "-")
        {
            return (Console.In.ReadToEnd(), "stdin");
        }
        try
        {
            return (File.ReadAllText(path), Path.GetFileName(path));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw StrataException.Invalid("file", $"{path}: no such file; give the path of a workload file (YAML or JSON), or '-' for standard input");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw StrataException.Invalid("file", $"cannot read {path}: {e.Message}");
        }
    }
}
