namespace Strata.Rightsizing.Forecasting;

/// <summary>
/// Forecasts memory from slot peaks: double exponential smoothing (Holt: level + trend) until two full seasons of
/// slots exist, then additive Holt-Winters with a daily season initialised from those two seasons (a seasonal model
/// needs at least two seasons to tell season from trend). Bounded state; gaps repeat the last slot.
/// </summary>
public sealed class SeasonalForecaster
{
    private readonly ForecastOptions _options;
    private readonly List<double> _warmup = [];
    private double[] _seasonals = [];
    private DateTimeOffset? _slotStart;
    private double _slotPeak;
    private long _slotsClosed;
    private double _level;
    private double _trend;

    public SeasonalForecaster(ForecastOptions options)
    {
        options.Validate();
        _options = options;
    }

    public ForecastMethod Method => _slotsClosed == 0 ? ForecastMethod.None : _seasonals.Length > 0 ? ForecastMethod.HoltWinters : ForecastMethod.Holt;

    /// <summary>Feeds one observation; closes the slots that ended before <paramref name="time"/>.</summary>
    public void Observe(DateTimeOffset time, double value)
    {
        if (_slotStart is null)
        {
            _slotStart = time;
            _slotPeak = value;
            return;
        }
        if (time < _slotStart.Value + _options.Slot)
        {
            _slotPeak = Math.Max(_slotPeak, value);
            return;
        }
        var elapsed = (long)((time - _slotStart.Value) / _options.Slot);
        // A long gap repeats the last peak for at most two seasons of slots (keeps the season aligned, bounded work).
        var closes = Math.Min(elapsed, 2L * _options.SeasonSlots);
        for (var i = 0; i < closes; i++)
        {
            Close(_slotPeak);
        }
        _slotStart = _slotStart.Value + (elapsed * _options.Slot);
        _slotPeak = value;
    }

    /// <summary>The highest forecast over the next <see cref="ForecastOptions.HorizonSlots"/> slots (0 with no data).</summary>
    public double PeakWithinHorizon()
    {
        if (_slotsClosed == 0)
        {
            return _slotPeak;
        }
        var peak = double.MinValue;
        for (var h = 1; h <= _options.HorizonSlots; h++)
        {
            peak = Math.Max(peak, Forecast(h));
        }
        // The slot still open has been seen: the forecast never claims less than it.
        return Math.Max(peak, _slotPeak);
    }

    /// <summary>The forecast <paramref name="steps"/> slots after the last closed one.</summary>
    public double Forecast(int steps)
    {
        var value = _level + (steps * _trend);
        if (_seasonals.Length > 0)
        {
            value += _seasonals[(int)((_slotsClosed - 1 + steps) % _seasonals.Length)];
        }
        return value;
    }

    /// <summary>The growth per hour the model currently sees.</summary>
    public double TrendPerHour => _trend * (TimeSpan.FromHours(1) / _options.Slot);

    public ForecasterState ToState() => new()
    {
        SlotStart = _slotStart,
        SlotPeak = _slotPeak,
        SlotsClosed = _slotsClosed,
        Level = _level,
        Trend = _trend,
        Seasonals = [.. _seasonals],
        Warmup = [.. _warmup],
    };

    public static SeasonalForecaster FromState(ForecasterState state, ForecastOptions options)
    {
        if (state.Version != ForecasterState.CurrentVersion)
        {
            throw new ArgumentException($"forecaster state version {state.Version} is not supported; this build reads version {ForecasterState.CurrentVersion}", nameof(state));
        }
        var forecaster = new SeasonalForecaster(options);
        if (state.Seasonals.Count is not 0 && state.Seasonals.Count != options.SeasonSlots)
        {
            throw new ArgumentException($"forecaster state has {state.Seasonals.Count} seasonal slots; the options have {options.SeasonSlots}", nameof(state));
        }
        if (state.Warmup.Count > 2 * options.SeasonSlots)
        {
            throw new ArgumentException($"forecaster state has {state.Warmup.Count} warm-up slots; at most {2 * options.SeasonSlots} are kept", nameof(state));
        }
        forecaster._slotStart = state.SlotStart;
        forecaster._slotPeak = state.SlotPeak;
        forecaster._slotsClosed = state.SlotsClosed;
        forecaster._level = state.Level;
        forecaster._trend = state.Trend;
        forecaster._seasonals = [.. state.Seasonals];
        forecaster._warmup.AddRange(state.Warmup);
        return forecaster;
    }

    private void Close(double x)
    {
        var (alpha, beta, gamma) = (_options.Alpha, _options.Beta, _options.Gamma);
        _slotsClosed++;
        if (_seasonals.Length > 0)
        {
            var s = (int)((_slotsClosed - 1) % _seasonals.Length);
            var level = (alpha * (x - _seasonals[s])) + ((1 - alpha) * (_level + _trend));
            _trend = (beta * (level - _level)) + ((1 - beta) * _trend);
            _seasonals[s] = (gamma * (x - level)) + ((1 - gamma) * _seasonals[s]);
            _level = level;
            return;
        }
        if (_slotsClosed == 1)
        {
            _level = x;
            _trend = 0;
        }
        else
        {
            var level = (alpha * x) + ((1 - alpha) * (_level + _trend));
            _trend = (beta * (level - _level)) + ((1 - beta) * _trend);
            _level = level;
        }
        _warmup.Add(x);
        if (_warmup.Count == 2 * _options.SeasonSlots)
        {
            StartSeasons();
        }
    }

    // Holt-Winters from two seasons: trend from the difference of the seasons' means, each slot's seasonal component
    // the average of its two deviations from its season's mean, level at the end of the second season.
    private void StartSeasons()
    {
        var m = _options.SeasonSlots;
        var first = _warmup.Take(m).Average();
        var second = _warmup.Skip(m).Average();
        _trend = (second - first) / m;
        _level = second + (_trend * (m - 1) / 2);
        _seasonals = new double[m];
        for (var i = 0; i < m; i++)
        {
            _seasonals[i] = ((_warmup[i] - first) + (_warmup[m + i] - second)) / 2;
        }
        _warmup.Clear();
    }
}
