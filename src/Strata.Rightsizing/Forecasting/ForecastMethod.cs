namespace Strata.Rightsizing.Forecasting;

/// <summary>Which model a forecast came from. Stored: the numbers never change.</summary>
public enum ForecastMethod
{
    /// <summary>Not one slot of data yet.</summary>
    None = 0,

    /// <summary>Double exponential smoothing (level and trend), used until two seasons of data exist.</summary>
    Holt = 1,

    /// <summary>Additive Holt-Winters with a daily season, from the third season on.</summary>
    HoltWinters = 2,
}
