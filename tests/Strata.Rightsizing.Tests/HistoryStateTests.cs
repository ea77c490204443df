using System.Text.Json;

namespace Strata.Rightsizing.Tests;

public class HistoryStateTests
{
    private static readonly Recommender Recommender = new();
    private static readonly ResourceLimits Limits = new(2, 2048 * Samples.Mib);

    private static IEnumerable<UsageSample> Seeded(int seed, TimeSpan length, DateTimeOffset? from = null)
    {
        var random = new Random(seed);
        return Samples.Over(length, TimeSpan.FromSeconds(10), t => (
            0.3 + (0.2 * Math.Sin(2 * Math.PI * t.TotalDays)) + (random.NextDouble() * 0.1),
            (400 + (100 * Math.Sin(2 * Math.PI * t.TotalDays)) + (random.NextDouble() * 30)) * Samples.Mib), from);
    }

    private static string Json(Recommendation r) => JsonSerializer.Serialize(r, RightsizingJson.Default.Recommendation);

    [Fact]
    public void State_RoundTripsThroughJson_AndTheRestoredHistoryContinuesIdentically()
    {
        var original = Recommender.NewHistory().Feed(Seeded(1, TimeSpan.FromDays(3)));
        original.RecordOomKill(Samples.Start + TimeSpan.FromDays(3), 450 * Samples.Mib);
        var json = JsonSerializer.Serialize(original.ToState(), RightsizingJson.Default.UsageHistoryState);
        var restored = UsageHistory.FromState(JsonSerializer.Deserialize(json, RightsizingJson.Default.UsageHistoryState)!, Recommender.Options);
        Assert.Equal(json, JsonSerializer.Serialize(restored.ToState(), RightsizingJson.Default.UsageHistoryState));
        Assert.Equal(Json(Recommender.Recommend(original, Limits)), Json(Recommender.Recommend(restored, Limits)));

        var more = Seeded(2, TimeSpan.FromDays(1), Samples.Start + TimeSpan.FromDays(3) + TimeSpan.FromSeconds(10)).ToList();
        original.Feed(more);
        restored.Feed(more);
        Assert.Equal(Json(Recommender.Recommend(original, Limits)), Json(Recommender.Recommend(restored, Limits)));
    }

    [Fact]
    public void State_TenDaysAtTenSeconds_StaysBounded()
    {
        var history = Recommender.NewHistory().Feed(Seeded(3, TimeSpan.FromDays(10)));
        Assert.Equal(86_400, history.Samples);
        var state = history.ToState();
        Assert.Equal(8, state.MemoryPeaks.Count);
        Assert.True(state.Cpu.Buckets.Count <= 176 && state.Memory.Buckets.Count <= 176);
        Assert.True(state.Forecast.Seasonals.Count == 96 && state.Forecast.Warmup.Count == 0);
        var bytes = JsonSerializer.SerializeToUtf8Bytes(state, RightsizingJson.Default.UsageHistoryState).Length;
        Assert.InRange(bytes, 1, 16 * 1024);
    }

    [Fact]
    public void State_UnknownVersion_IsRefusedNamingIt()
    {
        var state = Recommender.NewHistory().ToState() with { Version = 2 };
        var error = Assert.Throws<ArgumentException>(() => UsageHistory.FromState(state, Recommender.Options));
        Assert.Contains("usage history state version 2 is not supported", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Recommend_SameSeededSamples_SameRecommendationAndState()
    {
        var a = Recommender.NewHistory().Feed(Seeded(42, TimeSpan.FromDays(2)));
        var b = Recommender.NewHistory().Feed(Seeded(42, TimeSpan.FromDays(2)));
        Assert.Equal(Json(Recommender.Recommend(a, Limits)), Json(Recommender.Recommend(b, Limits)));
        Assert.Equal(
            JsonSerializer.Serialize(a.ToState(), RightsizingJson.Default.UsageHistoryState),
            JsonSerializer.Serialize(b.ToState(), RightsizingJson.Default.UsageHistoryState));
        var c = Recommender.NewHistory().Feed(Seeded(43, TimeSpan.FromDays(2)));
        Assert.NotEqual(Json(Recommender.Recommend(a, Limits)), Json(Recommender.Recommend(c, Limits)));
    }

    [Fact]
    public void Add_ASampleOlderThanTheLast_IsIgnored()
    {
        var history = Recommender.NewHistory();
        history.Add(new UsageSample(Samples.Start + TimeSpan.FromMinutes(5), 0.5, 100 * Samples.Mib));
        history.Add(new UsageSample(Samples.Start, 9, 9000 * Samples.Mib));
        Assert.Equal(1, history.Samples);
        Assert.Equal(100 * Samples.Mib, history.ObservedMemoryPeak);
    }
}
