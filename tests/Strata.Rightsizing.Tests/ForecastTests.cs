using Strata.Rightsizing.Forecasting;
using Strata.Rightsizing.Policy;

namespace Strata.Rightsizing.Tests;

public class ForecastTests
{
    [Fact]
    public void Forecaster_LinearGrowth_RaisesTheLimitBeforeUsageReachesIt()
    {
        // 200 MiB growing 40 MiB an hour; a day of history, then auto mode from a 2 GiB limit with an 8 h cooldown.
        // Peak + 15 % alone leaves about 6 h of growth after a change, less than the cooldown: only the forecast's
        // 12 h look-ahead keeps the limit above the usage.
        var withForecast = Run(new ForecastOptions());
        Assert.Null(withForecast.CrossedAt);
        Assert.True(withForecast.Raises >= 2, $"{withForecast.Raises} raises");

        var withoutForecast = Run(new ForecastOptions { Horizon = TimeSpan.FromMinutes(15), Beta = 0.0001 });
        Assert.NotNull(withoutForecast.CrossedAt);
    }

    private static (TimeSpan? CrossedAt, int Raises) Run(ForecastOptions forecast)
    {
        var recommender = new Recommender(new RecommenderOptions { SampleInterval = TimeSpan.FromMinutes(1), Forecast = forecast });
        var policy = new RightsizePolicy(new RightsizePolicyOptions { Cooldown = TimeSpan.FromHours(8) });
        var history = recommender.NewHistory();
        var limits = new ResourceLimits(1, 2048 * Samples.Mib);
        var state = new RightsizeState();
        var raises = 0;
        foreach (var sample in Samples.Over(TimeSpan.FromHours(72), TimeSpan.FromMinutes(1), t => (0.2, (200 + (40 * t.TotalHours)) * Samples.Mib)))
        {
            var elapsed = sample.Time - Samples.Start;
            if (elapsed >= TimeSpan.FromHours(24) && sample.MemoryBytes > limits.MemoryBytes)
            {
                return (elapsed, raises);
            }
            history.Add(sample);
            if (elapsed < TimeSpan.FromHours(24))
            {
                continue;
            }
            var decision = policy.Evaluate(RightsizeMode.Auto, state, limits, recommender.Estimate(history), sample.Time);
            state = decision.State;
            if (decision.Apply)
            {
                raises += decision.Limits.MemoryBytes > limits.MemoryBytes ? 1 : 0;
                limits = decision.Limits;
            }
        }
        return (null, raises);
    }

    [Fact]
    public void Forecaster_Growth_ForecastsAheadOfThePeakSoFar()
    {
        var recommender = new Recommender(new RecommenderOptions { SampleInterval = TimeSpan.FromMinutes(1) });
        var history = recommender.NewHistory().Feed(Samples.Over(TimeSpan.FromHours(24), TimeSpan.FromMinutes(1), t => (0.2, (300 + (10 * t.TotalHours)) * Samples.Mib)));
        var r = recommender.Recommend(history, new ResourceLimits(1, 1024 * Samples.Mib));
        Assert.Equal(ForecastMethod.Holt, r.Explanation.ForecastMethod);
        Assert.True(r.Explanation.ForecastRaised);
        Assert.True(r.Memory.Target >= r.Explanation.ForecastMemoryPeak * 1.15);
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
