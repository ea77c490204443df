namespace Strata.Rightsizing.Forecasting;

/// <summary>The stored form of a <see cref="SeasonalForecaster"/>; bounded by three seasons of slots.</summary>
public sealed record ForecasterState
{
    public const int CurrentVersion = 1;

    public int Version { get; init; } = CurrentVersion;

    public DateTimeOffset? SlotStart { get; init; }

    public double SlotPeak { get; init; }

    public long SlotsClosed { get; init; }

    public double Level { get; init; }

    public double Trend { get; init; }

    /// <summary>The seasonal components once Holt-Winters runs; empty before.</summary>
    public IReadOnlyList<double> Seasonals { get; init; } = [];

    /// <summary>Slot peaks of the first two seasons, kept only until Holt-Winters is initialised from them.</summary>
    public IReadOnlyList<double> Warmup { get; init; } = [];
}
