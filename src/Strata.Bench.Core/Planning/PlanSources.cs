using System.Globalization;
using System.Text.Json;
using Strata.Client;
using Strata.Contracts;

namespace Strata.Bench.Core.Planning;

/// <summary>The host size and count <c>strata plan</c> was given; null takes this host's size.</summary>
public sealed record PlanOptions(int? Hosts = null, double? HostCpus = null, long? HostMemoryBytes = null);

/// <summary>
/// Gathers a plan's inputs from the daemon, through the API only: the advice for the file's workloads (which
/// parses the file and answers every error with its line), the caller's project's usage histories, the stored
/// <c>strata bench</c> report and the host's size.
/// </summary>
public static class PlanSources
{
    public static async Task<PlanRequest> GatherAsync(StrataClient client, string fileText, string fileName, PlanOptions options, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Hosts is <= 0)
        {
            throw StrataException.Invalid("--hosts", $"must be 1 or more (got {options.Hosts})");
        }
        if (options.HostCpus is { } cpus && (cpus <= 0 || double.IsNaN(cpus) || cpus > 100_000))
        {
            throw StrataException.Invalid("--host-cpus", $"must be above 0 (got {cpus.ToString(CultureInfo.InvariantCulture)}), e.g. --host-cpus 32");
        }
        if (options.HostMemoryBytes is <= 0)
        {
            throw StrataException.Invalid("--host-memory", "must be above 0, e.g. --host-memory 128G");
        }
        var advice = await client.AdviseFileAsync(fileText, fileName, ct).ConfigureAwait(false);
        if (advice.Items.Count == 0)
        {
            throw StrataException.Invalid("file", $"{fileName} has no workloads: give a workload, a list of them, or a mapping with a 'workloads' list (docs/advisor.md#workload-files)");
        }
        var histories = (await client.RecommendationsAsync(null, ct).ConfigureAwait(false)).Recommendations;
        var notes = new List<string>();
        BenchReport? bench = null;
        try
        {
            var text = await client.GetBenchResultsAsync(ct).ConfigureAwait(false);
            bench = JsonSerializer.Deserialize(text, BenchJsonContext.Default.BenchReport);
        }
        catch (StrataApiException e) when (e.Kind == ErrorKind.NotFound)
        {
            notes.Add("no strata bench results on this host: every tier cost is assumed (run 'strata bench --quick' to measure them)");
        }
        catch (JsonException e)
        {
            notes.Add($"the stored bench results could not be read ({e.Message}): every tier cost is assumed");
        }
        PlanFigure hostCpus, hostMemory;
        if (options.HostCpus is { } c && options.HostMemoryBytes is { } m)
        {
            (hostCpus, hostMemory) = (Given("host CPUs", c, PlanInputs.Cores(c), "--host-cpus"), Given("host memory", m, BenchTables.Bytes(m), "--host-memory"));
        }
        else
        {
            var host = (await client.InfoAsync(ct).ConfigureAwait(false)).Host;
            hostCpus = options.HostCpus is { } c2 ? Given("host CPUs", c2, PlanInputs.Cores(c2), "--host-cpus")
                : new PlanFigure("host CPUs", host.Cpus, PlanInputs.Cores(host.Cpus), true, "this host (strata info); --host-cpus to plan for another size");
            hostMemory = options.HostMemoryBytes is { } m2 ? Given("host memory", m2, BenchTables.Bytes(m2), "--host-memory")
                : new PlanFigure("host memory", host.MemoryBytes, BenchTables.Bytes(host.MemoryBytes), true, "this host (strata info); --host-memory to plan for another size");
        }
        var workloads = PlanInputs.Workloads(advice, histories, fileName);
        var withHistory = workloads.Count(w => w.Cpu.Measured);
        notes.Add(withHistory == 0
            ? "no workload has a usage history in this project: uses are the declared limits (or assumed); run the workloads (strata apply) and plan again after a while"
            : $"{withHistory} of {workloads.Count} workloads use their measured usage history (the recommendation: p90 + 15 %)");
        return new PlanRequest
        {
            File = fileName,
            Workloads = workloads,
            HostCpus = hostCpus,
            HostMemoryBytes = hostMemory,
            Hosts = options.Hosts,
            Costs = PlanInputs.Costs(bench),
            Notes = notes,
        };
    }

    private static PlanFigure Given(string name, double value, string text, string option) => new(name, value, text, false, $"given ({option})");
}
