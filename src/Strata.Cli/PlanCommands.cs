using System.CommandLine;
using Strata.Bench.Core.Planning;
using Strata.Contracts;

namespace Strata.Cli;

/// <summary><c>strata plan FILE</c>: how many hosts each deployment model of the article needs (docs/rightsizing.md#capacity-planner).</summary>
internal static class PlanCommands
{
    public static Command Plan()
    {
        var file = new Argument<string>("file") { Description = "workload file (the advisor's format, YAML or JSON); '-' reads standard input" };
        var hosts = new Option<int?>("--hosts") { Description = "hosts available: also say whether each model fits in them" };
        var hostCpus = new Option<double?>("--host-cpus") { Description = "CPUs of one host (default: this host's)" };
        var hostMemory = new Option<string?>("--host-memory") { Description = "memory of one host, e.g. 128G (default: this host's)" };
        var json = new Option<bool>("--json") { Description = "print the plan as JSON" };
        var report = new Option<string?>("--report") { Description = "also write a self-contained HTML report with charts to FILE" };
        var command = new Command("plan", "How many hosts of a size a workload file needs as physical hosts, a VM each, containers, containers in VMs and the advisor's hybrid; which numbers were measured and which assumed")
        {
            file, hosts, hostCpus, hostMemory, json, report,
        };
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            var (text, fileName) = AdvisorCommands.ReadFile(parse.GetValue(file)!);
            var options = new PlanOptions(
                parse.GetValue(hosts),
                parse.GetValue(hostCpus),
                parse.GetValue(hostMemory) is { } m ? StrataCli.ParseSize("--host-memory", m) : null);
            using var client = StrataCli.Client(parse);
            var request = await PlanSources.GatherAsync(client, text, fileName, options, ct);
            PlanReport plan;
            try
            {
                plan = CapacityPlanner.Plan(request);
            }
            catch (ArgumentException e)
            {
                throw StrataException.Invalid("plan", e.Message);
            }
            if (parse.GetValue(report) is { } path)
            {
                try
                {
                    File.WriteAllText(path, PlanTables.Html(plan));
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw StrataException.Invalid("--report", $"cannot write {path}: {e.Message}");
                }
                Console.Error.WriteLine($"report written to {path}");
            }
            if (parse.GetValue(json))
            {
                StrataCli.WriteJson(plan, PlanJsonContext.Default.PlanReport);
            }
            else
            {
                Console.Write(PlanTables.Text(plan));
            }
            return 0;
        }));
        return command;
    }
}
