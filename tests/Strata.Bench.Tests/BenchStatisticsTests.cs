using Strata.Bench.Core;

namespace Strata.Bench.Tests;

public sealed class BenchStatisticsTests
{
    [Fact]
    public void Summarize_OddCount_GivesMinMedianP90Max()
    {
        var stats = BenchStatistics.Summarize([50, 10, 30, 20, 40]);

        Assert.Equal(new LatencyStats(5, 10, 30, 46, 50), stats);
    }

    [Fact]
    public void Summarize_EvenCount_MedianIsTheMeanOfTheMiddleTwo()
    {
        var stats = BenchStatistics.Summarize([4, 1, 3, 2]);

        Assert.Equal(2.5, stats!.MedianMs);
        Assert.Equal(3.7, stats.P90Ms);
        Assert.Equal(1, stats.MinMs);
        Assert.Equal(4, stats.MaxMs);
    }

    [Fact]
    public void Summarize_OneSample_EveryFigureIsThatSample()
    {
        Assert.Equal(new LatencyStats(1, 3210.5, 3210.5, 3210.5, 3210.5), BenchStatistics.Summarize([3210.5]));
    }

    [Fact]
    public void Summarize_NoSamples_IsNull()
    {
        Assert.Null(BenchStatistics.Summarize([]));
    }

    [Theory]
    [InlineData(150.0, 50.0, 3.0)]
    [InlineData(10.0, 30.0, 0.33)]
    public void Ratio_BothKnown_IsRoundedQuotient(double a, double b, double expected)
    {
        Assert.Equal(expected, BenchStatistics.Ratio(a, b));
    }

    [Fact]
    public void Ratio_MissingOrZeroBaseline_IsNull()
    {
        Assert.Null(BenchStatistics.Ratio(10, null));
        Assert.Null(BenchStatistics.Ratio(null, 10));
        Assert.Null(BenchStatistics.Ratio(10, 0));
    }

    [Fact]
    public void Fits_BudgetAndPerInstance_IsWholeInstances()
    {
        Assert.Equal(10, BenchStatistics.Fits(1000, 99));
        Assert.Equal(0, BenchStatistics.Fits(1000, 0));
    }
}
