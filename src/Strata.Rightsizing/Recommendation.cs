using Strata.Rightsizing.Forecasting;

namespace Strata.Rightsizing;

/// <summary>A recommended value and the band around it within which a limit is fine (cores or bytes).</summary>
public readonly record struct ResourceBounds(double Target, double Lower, double Upper);

/// <summary>The recommendation's numbers, without its sentences: what the policy needs on every sample.</summary>
/// <param name="Span">How long the history is (null: not known, as in estimates made by hand).</param>
public readonly record struct Estimate(ResourceBounds Cpu, ResourceBounds Memory, bool HasHistory, TimeSpan? Span = null);

/// <summary>
/// What <c>strata recommend</c> shows for one instance: its limits, the recommendation, the slack now and after, the
/// history it rests on, and why (sentences plus the numbers behind them).
/// </summary>
public sealed record Recommendation
{
    public required ResourceLimits Current { get; init; }

    public required ResourceBounds Cpu { get; init; }

    public required ResourceBounds Memory { get; init; }

    /// <summary>(limit − recent mean use) / limit with the current limits.</summary>
    public required SlackFigures SlackToday { get; init; }

    /// <summary>The same with the targets as limits.</summary>
    public required SlackFigures SlackAfter { get; init; }

    public required long Samples { get; init; }

    public required long OomKills { get; init; }

    public required double HistoryHours { get; init; }

    public required RecommendationExplanation Explanation { get; init; }
}

/// <summary>Slack as a fraction of the limit (0.25 = a quarter of the limit unused).</summary>
public readonly record struct SlackFigures(double Cpu, double Memory);

/// <summary>Why: short sentences, and the numbers they quote.</summary>
public sealed record RecommendationExplanation
{
    public required IReadOnlyList<string> Sentences { get; init; }

    public required double CpuP50 { get; init; }

    public required double CpuP90 { get; init; }

    public required double CpuP95 { get; init; }

    public required double MemoryP50 { get; init; }

    public required double MemoryP90 { get; init; }

    public required double MemoryP95 { get; init; }

    public required double Margin { get; init; }

    /// <summary>Days of history the confidence factors use (the span, limited by how many samples there are).</summary>
    public required double ConfidenceDays { get; init; }

    public required double UpperFactor { get; init; }

    public required double LowerFactor { get; init; }

    public required double ObservedMemoryPeak { get; init; }

    public required int MemoryPeaks { get; init; }

    public required ForecastMethod ForecastMethod { get; init; }

    /// <summary>The highest memory use the forecast expects within the horizon.</summary>
    public required double ForecastMemoryPeak { get; init; }

    public required double ForecastHorizonHours { get; init; }

    /// <summary>Whether the forecast raised the memory target.</summary>
    public required bool ForecastRaised { get; init; }
}
