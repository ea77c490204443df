using System.Text.Json;
using Strata.Bench.Core;
using Strata.Client;
using Strata.Contracts;
using Strata.Daemon.Tests;

namespace Strata.Bench.Tests;

/// <summary><c>/v1/bench/results</c> and the advisor quoting what it stores.</summary>
public sealed class BenchResultsApiTests : IAsyncLifetime
{
    private InProcessDaemon _daemon = null!;
    private StrataClient _client = null!;

    public async Task InitializeAsync()
    {
        _daemon = await InProcessDaemon.StartAsync();
        _client = _daemon.Client();
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _daemon.DisposeAsync();
    }

    [Fact]
    public async Task Save_Report_IsStoredUnderTheRootAndReadBack()
    {
        var json = JsonSerializer.Serialize(SampleReports.Known(), BenchJsonContext.Default.BenchReport);

        await _client.SaveBenchResultsAsync(json);

        Assert.Equal(json, File.ReadAllText(Path.Combine(_daemon.Root, "bench", "results.json")));
        var back = JsonSerializer.Deserialize(await _client.GetBenchResultsAsync(), BenchJsonContext.Default.BenchReport)!;
        Assert.Equal(50, back.Tiers["container"].StartMedianMs);
    }

    [Fact]
    public async Task Get_NothingStored_IsNotFoundSayingHowToMeasure()
    {
        var e = await Assert.ThrowsAsync<StrataApiException>(() => _client.GetBenchResultsAsync());

        Assert.Equal(ErrorKind.NotFound, e.Kind);
        Assert.Contains("strata bench", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[1,2]")]
    [InlineData("{\"targets\":[]}")]
    public async Task Save_NotAReport_IsRejectedAndNothingIsWritten(string body)
    {
        var e = await Assert.ThrowsAsync<StrataApiException>(() => _client.SaveBenchResultsAsync(body));

        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.False(File.Exists(Path.Combine(_daemon.Root, "bench", "results.json")));
    }

    [Fact]
    public async Task Advise_AfterSave_QuotesTheMeasuredNumbers()
    {
        var before = await _client.AdviseSpecAsync(new InstanceSpec { Image = "busybox" });
        Assert.DoesNotContain(Costs(before.Items[0]), c => c.Contains("measured on this host", StringComparison.Ordinal));

        await _client.SaveBenchResultsAsync(JsonSerializer.Serialize(SampleReports.Known(), BenchJsonContext.Default.BenchReport));
        var after = await _client.AdviseSpecAsync(new InstanceSpec { Image = "busybox" });

        var measured = Costs(after.Items[0]).Where(c => c.Contains("(measured on this host, strata bench 2026-01-02", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(measured);
        Assert.Contains(measured, c => c.StartsWith("21", StringComparison.Ordinal) || c.StartsWith("3 ms", StringComparison.Ordinal)
            || c.StartsWith("50", StringComparison.Ordinal) || c.StartsWith("3 s", StringComparison.Ordinal) || c.StartsWith("3.0", StringComparison.Ordinal));
    }

    private static List<string> Costs(AdviseItem item) =>
        [.. new[] { item.Cost }.Concat(item.RunnersUp?.Select(r => r.Cost) ?? []).OfType<string>()];
}
