using Strata.Rightsizing.Forecasting;
using Strata.Rightsizing.Policy;

namespace Strata.Rightsizing.Tests;

public class ForecastTests
{
    [Fact]
    public void Forecaster_LinearGrowth_RaisesTheTargetBeforeUsageReachesTheLimit()
    {
        // 300 MiB growing 10 MiB an hour under a 1 GiB limit: usage would reach the limit after 72 h.
        var recommender = new Recommender(new RecommenderOptions { SampleInterval = TimeSpan.FromMinutes(1) });
        var policy = new RightsizePolicy();
        var history = recommender.NewHistory();
        var limits = new ResourceLimits(1, 1024 * Samples.Mib);
        var state = new RightsizeState();
        var raisedAt = (TimeSpan?)null;
        var forecastRaised = false;
        foreach (var sample in Samples.Over(TimeSpan.FromHours(96), TimeSpan.FromMinutes(1), t => (0.2, (300 + (10 * t.TotalHours)) * Samples.Mib)))
        {
            Assert.True(sample.MemoryBytes <= limits.MemoryBytes, $"usage {sample.MemoryBytes / Samples.Mib:0} MiB crossed the limit {limits.MemoryBytes / Samples.Mib:0} MiB at {sample.Time - Samples.Start}");
            history.Add(sample);
            var estimate = recommender.Estimate(history);
            var decision = policy.Evaluate(RightsizeMode.Auto, state, limits, estimate, sample.Time);
            state = decision.State;
            if (decision.Apply)
            {
                if (decision.Limits.MemoryBytes > limits.MemoryBytes && sample.MemoryBytes > 700 * Samples.Mib)
                {
                    raisedAt ??= sample.Time - Samples.Start;
                    forecastRaised |= recommender.Recommend(history, limits).Explanation.ForecastRaised;
                }
                limits = decision.Limits;
            }
        }
        Assert.NotNull(raisedAt);
        Assert.True(raisedAt < TimeSpan.FromHours(72), $"raised at {raisedAt}");
        Assert.True(forecastRaised, "the raise came from the forecast");
        Assert.Equal(0, history.OomKills);
    }

    [Fact]
    public void Forecaster_Growth_ForecastsAheadOfThePeakSoFar()
    {
        var recommender = new Recommender(new RecommenderOptions { SampleInterval = TimeSpan.FromMinutes(1) });
        var history = recommender.NewHistory().Feed(Samples.Over(TimeSpan.FromHours(24), TimeSpan.FromMinutes(1), t => (0.2, (300 + (10 * t.TotalHours)) * Samples.Mib)));
        var r = recommender.Recommend(history, new ResourceLimits(1, 1024 * Samples.Mib));
        Assert.Equal(ForecastMethod.Holt, r.Explanation.ForecastMethod);
        Assert.True(r.Explanation.ForecastRaised);
        // Twelve hours on, usage is about 660 MiB; the forecast sees most of that growth.
        Assert.InRange(r.Explanation.ForecastMemoryPeak, 600 * Samples.Mib, 700 * Samples.Mib);
        Assert.Contains(r.Explanation.Sentences, s => s.StartsWith("the forecast (double exponential smoothing) reaches", StringComparison.Ordinal));
    }

    [Fact]
    public void Forecaster_HoltWinters_StartsAfterTwoSeasonsAndFollowsTheDay()
    {
        var options = new ForecastOptions();
        var forecaster = new SeasonalForecaster(options);
        static double Usage(TimeSpan t) => 500 + (200 * Math.Sin(2 * Math.PI * t.TotalDays));
        var step = TimeSpan.FromMinutes(1);
        var t = TimeSpan.Zero;
        for (; t < TimeSpan.FromHours(47); t += step)
        {
            forecaster.Observe(Samples.Start + t, Usage(t));
        }
        Assert.Equal(ForecastMethod.Holt, forecaster.Method);
        for (; t <= TimeSpan.FromHours(48) + options.Slot; t += step)
        {
            forecaster.Observe(Samples.Start + t, Usage(t));
        }
        Assert.Equal(ForecastMethod.HoltWinters, forecaster.Method);
        for (; t < TimeSpan.FromHours(60); t += step)
        {
            forecaster.Observe(Samples.Start + t, Usage(t));
        }
        // The seasonal model expects the daily shape: from 60 h, the trough at 66 h and the crest at 78 h.
        var sixHours = (int)(TimeSpan.FromHours(6) / options.Slot);
        Assert.InRange(forecaster.Forecast(sixHours), 280, 330);
        Assert.InRange(forecaster.Forecast(3 * sixHours), 670, 730);

        // Holt alone cannot: the same stream into a forecaster that never reaches two seasons extrapolates a line.
        var holt = new SeasonalForecaster(options with { Season = TimeSpan.FromDays(10) });
        for (var u = TimeSpan.Zero; u < TimeSpan.FromHours(60); u += step)
        {
            holt.Observe(Samples.Start + u, Usage(u));
        }
        Assert.Equal(ForecastMethod.Holt, holt.Method);
        Assert.False(holt.Forecast(sixHours) is > 280 and < 330 && holt.Forecast(3 * sixHours) is > 670 and < 730);
    }

    [Fact]
    public void Forecaster_State_RoundTrips()
    {
        var options = new ForecastOptions();
        var a = new SeasonalForecaster(options);
        for (var m = 0; m < 60 * 60; m++)
        {
            a.Observe(Samples.Start + TimeSpan.FromMinutes(m), 100 + (m % 97));
        }
        var b = SeasonalForecaster.FromState(a.ToState(), options);
        for (var m = 3600; m < 3700; m++)
        {
            a.Observe(Samples.Start + TimeSpan.FromMinutes(m), 100 + (m % 89));
            b.Observe(Samples.Start + TimeSpan.FromMinutes(m), 100 + (m % 89));
        }
        Assert.Equal(a.PeakWithinHorizon(), b.PeakWithinHorizon());
        Assert.Equal(a.Method, b.Method);
    }
}
