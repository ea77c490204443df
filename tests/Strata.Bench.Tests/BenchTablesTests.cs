using System.Text.Json;
using Strata.Bench.Core;

namespace Strata.Bench.Tests;

/// <summary>Known latencies in, known table out.</summary>
public sealed class BenchTablesTests
{
    [Fact]
    public void Article_KnownReport_OneColumnPerTierWithMeasuredCells()
    {
        var table = BenchTables.Article(SampleReports.Known());

        Assert.Equal(["property", "process", "container", "wasm", "sandbox", "vm"], table.Header);
        Assert.Equal(["start time (to first output, median)", "22 ms", "50 ms", "3.0 ms", "3.00 s", "n/a"], Row(table, "start time"));
        Assert.Equal(["memory per idle instance (PSS)", "1.0 MiB", "4.0 MiB", "-", "200.0 MiB", "n/a"], Row(table, "memory"));
        Assert.Equal(["density in budget (extrapolated)", "4,096", "1,024", "-", "20", "n/a"], Row(table, "density"));
        Assert.Equal(["CPU kernel vs process", "1.00x", "1.03x", "-", "6.00x", "n/a"], Row(table, "CPU"));
        Assert.Equal(["snapshot / restore", "-", "95 ms / 53 ms", "-", "-", "n/a"], Row(table, "snapshot"));
        Assert.Equal(["isolation", "none", "medium (kernel shared)", "language sandbox", "strong (own kernel)", "strong (own kernel)"], Row(table, "isolation"));
    }

    [Fact]
    public void StartLatency_KnownReport_RatiosAgainstTheBaselinesOfTheSameRun()
    {
        var table = BenchTables.StartLatency(SampleReports.Known());

        var container = table.Rows.Single(r => r[0] == "container");
        Assert.Equal(["container", "strata run --rm --tier container", "50 ms", "45 ms", "55 ms", "63 ms", "65 ms", "2.50x runc; 0.17x podman"], container);
        var sandbox = table.Rows.Single(r => r[0] == "sandbox");
        Assert.Equal("1.10x qemu (n=1)", sandbox[7]);
        var vm = table.Rows.Single(r => r[0] == "vm");
        Assert.StartsWith("skipped: not available here", vm[2], StringComparison.Ordinal);
    }

    [Fact]
    public void Json_RoundTrip_KeepsTheAdvisorsTiersShape()
    {
        var json = JsonSerializer.Serialize(SampleReports.Known(), BenchJsonContext.Default.BenchReport);

        using var doc = JsonDocument.Parse(json);
        Assert.Equal(50, doc.RootElement.GetProperty("tiers").GetProperty("container").GetProperty("startMedianMs").GetDouble());
        var back = JsonSerializer.Deserialize(json, BenchJsonContext.Default.BenchReport)!;
        Assert.Equal(SampleReports.Known().Targets.Count, back.Targets.Count);
        Assert.Equal(55, back.Find("container")!.Exit!.MedianMs);
    }

    [Fact]
    public void MachineLines_KnownReport_NamesAcceleratorLoadAndVersions()
    {
        var lines = string.Join('\n', BenchTables.MachineLines(SampleReports.Known()));

        Assert.Contains("2 CPUs, 8.0 GiB", lines, StringComparison.Ordinal);
        Assert.Contains("guests: TCG", lines, StringComparison.Ordinal);
        Assert.Contains("1.00 1.00 1.00 at start", lines, StringComparison.Ordinal);
        Assert.Contains("runc: runc version 1.1.5", lines, StringComparison.Ordinal);
    }

    private static IReadOnlyList<string> Row(TextTable table, string prefix) => table.Rows.Single(r => r[0].StartsWith(prefix, StringComparison.Ordinal));
}
