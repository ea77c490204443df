namespace Strata.Rightsizing.Forecasting;

/// <summary>Settings of the memory forecaster; validated by <see cref="Validate"/>.</summary>
public sealed record ForecastOptions
{
    /// <summary>Samples are folded into slots of this length (each slot's value is its peak).</summary>
    public TimeSpan Slot { get; init; } = TimeSpan.FromMinutes(15);

    /// <summary>The season of Holt-Winters: one day.</summary>
    public TimeSpan Season { get; init; } = TimeSpan.FromDays(1);

    /// <summary>How far ahead the forecast looks for growth that would eat the margin.</summary>
    public TimeSpan Horizon { get; init; } = TimeSpan.FromHours(12);

    /// <summary>Level smoothing.</summary>
    public double Alpha { get; init; } = 0.2;

    /// <summary>
    /// Trend smoothing; small, so that slot-to-slot noise (multiplied by the horizon's slot count) does not read as growth.
    /// </summary>
    public double Beta { get; init; } = 0.02;

    /// <summary>Season smoothing.</summary>
    public double Gamma { get; init; } = 0.1;

    /// <summary>Slots per season.</summary>
    public int SeasonSlots => (int)(Season / Slot);

    /// <summary>Slots in the horizon.</summary>
    public int HorizonSlots => Math.Max(1, (int)(Horizon / Slot));

    /// <summary>Throws an ArgumentException naming the setting that is out of range.</summary>
    public void Validate()
    {
        if (Slot <= TimeSpan.Zero || Season < 2 * Slot || Horizon <= TimeSpan.Zero)
        {
            throw new ArgumentException($"forecast slot {Slot}, season {Season} and horizon {Horizon} must be positive, with at least two slots per season", nameof(Slot));
        }
        foreach (var (name, value) in new[] { (nameof(Alpha), Alpha), (nameof(Beta), Beta), (nameof(Gamma), Gamma) })
        {
            if (!(value is > 0 and <= 1))
            {
                throw new ArgumentException($"forecast smoothing factor {name} is {value}; use a value in (0, 1]", name);
            }
        }
    }
}
