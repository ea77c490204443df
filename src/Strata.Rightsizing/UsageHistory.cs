using Strata.Rightsizing.Forecasting;
using Strata.Rightsizing.Histograms;

namespace Strata.Rightsizing;

/// <summary>
/// An instance's usage history, VPA-style: CPU samples go into a decaying histogram weighted by their usage, memory
/// goes in as one peak per interval (the running peak of the open interval replaces itself as it grows), and a
/// forecaster follows the memory slot peaks. Bounded, whatever the instance's age; stored through <see cref="ToState"/>.
/// </summary>
public sealed class UsageHistory
{
    private readonly RecommenderOptions _options;
    private readonly DecayingHistogram _cpu;
    private readonly DecayingHistogram _memory;
    private readonly DecayingMean _cpuMean;
    private readonly DecayingMean _memoryMean;
    private readonly List<MemoryPeak> _peaks = [];
    private readonly SeasonalForecaster _forecast;

    public UsageHistory(RecommenderOptions options)
        : this(options, new DecayingHistogram(HistogramOptions.Cpu, options.HalfLife), new DecayingHistogram(HistogramOptions.Memory, options.HalfLife),
            new DecayingMean(options.HalfLife), new DecayingMean(options.HalfLife), new SeasonalForecaster(options.Forecast))
    {
    }

    private UsageHistory(RecommenderOptions options, DecayingHistogram cpu, DecayingHistogram memory, DecayingMean cpuMean, DecayingMean memoryMean, SeasonalForecaster forecast)
    {
        options.Validate();
        _options = options;
        _cpu = cpu;
        _memory = memory;
        _cpuMean = cpuMean;
        _memoryMean = memoryMean;
        _forecast = forecast;
    }

    public long Samples { get; private set; }

    public long OomKills { get; private set; }

    public DateTimeOffset? FirstSample { get; private set; }

    public DateTimeOffset? LastSample { get; private set; }

    /// <summary>The time between the first and the last sample.</summary>
    public TimeSpan Span => FirstSample is { } first && LastSample is { } last ? last - first : TimeSpan.Zero;

    internal DecayingHistogram Cpu => _cpu;

    internal DecayingHistogram Memory => _memory;

    internal SeasonalForecaster Forecaster => _forecast;

    /// <summary>How many memory intervals (days by default) the histogram holds a peak for.</summary>
    public int MemoryPeakCount => _peaks.Count;

    /// <summary>The highest memory use over the kept intervals (0 before the first sample).</summary>
    public double ObservedMemoryPeak => _peaks.Count == 0 ? 0 : _peaks.Max(p => p.Bytes);

    public double MeanCpu => _cpuMean.Value;

    public double MeanMemory => _memoryMean.Value;

    /// <summary>
    /// Adds one sample. Samples older than the last one are ignored (the history only moves forward). Without
    /// <paramref name="countCpu"/> only its memory counts: its CPU was a boot's, not the workload's.
    /// </summary>
    public void Add(UsageSample sample, bool countCpu = true)
    {
        if (LastSample is { } last && sample.Time < last)
        {
            return;
        }
        FirstSample ??= sample.Time;
        LastSample = sample.Time;
        Samples++;
        var cpu = Math.Max(0, sample.CpuCores);
        var memory = Math.Max(0, sample.MemoryBytes);
        if (countCpu)
        {
            _cpu.Add(cpu, Math.Max(cpu, _options.MinCpuSampleWeight), sample.Time);
            _cpuMean.Add(cpu, sample.Time);
        }
        _memoryMean.Add(memory, sample.Time);
        AddMemoryPeak(sample.Time, memory);
        _forecast.Observe(sample.Time, memory);
    }

    /// <summary>
    /// Records an OOM kill under <paramref name="memoryLimitBytes"/>: the instance needed more than its limit, so the
    /// history takes a peak of limit × <see cref="RecommenderOptions.OomBumpRatio"/> (VPA's rule).
    /// </summary>
    public void RecordOomKill(DateTimeOffset time, double memoryLimitBytes)
    {
        OomKills++;
        FirstSample ??= time;
        if (LastSample is null || time > LastSample)
        {
            LastSample = time;
        }
        AddMemoryPeak(time, memoryLimitBytes * _options.OomBumpRatio);
    }

    public UsageHistoryState ToState() => new()
    {
        Samples = Samples,
        OomKills = OomKills,
        FirstSample = FirstSample,
        LastSample = LastSample,
        Cpu = _cpu.ToState(),
        Memory = _memory.ToState(),
        MemoryPeaks = [.. _peaks],
        CpuMean = _cpuMean.ToState(),
        MemoryMean = _memoryMean.ToState(),
        Forecast = _forecast.ToState(),
    };

    /// <summary>Rebuilds a history from its stored form; throws an ArgumentException naming what is wrong with it.</summary>
    public static UsageHistory FromState(UsageHistoryState state, RecommenderOptions options)
    {
        if (state.Version != UsageHistoryState.CurrentVersion)
        {
            throw new ArgumentException($"usage history state version {state.Version} is not supported; this build reads version {UsageHistoryState.CurrentVersion}", nameof(state));
        }
        if (state.MemoryPeaks.Count > options.MemoryPeakIntervals)
        {
            throw new ArgumentException($"usage history state has {state.MemoryPeaks.Count} memory peaks; the options keep {options.MemoryPeakIntervals}", nameof(state));
        }
        var history = new UsageHistory(options,
            DecayingHistogram.FromState(state.Cpu, HistogramOptions.Cpu, options.HalfLife),
            DecayingHistogram.FromState(state.Memory, HistogramOptions.Memory, options.HalfLife),
            DecayingMean.FromState(state.CpuMean, options.HalfLife),
            DecayingMean.FromState(state.MemoryMean, options.HalfLife),
            SeasonalForecaster.FromState(state.Forecast, options.Forecast))
        {
            Samples = state.Samples,
            OomKills = state.OomKills,
            FirstSample = state.FirstSample,
            LastSample = state.LastSample,
        };
        history._peaks.AddRange(state.MemoryPeaks);
        return history;
    }

    // The open interval's peak is in the histogram and replaced when exceeded (subtracted with its own time, so it
    // cancels exactly); a sample past the interval's end opens a new one, and only the last N intervals are kept.
    // Peaks leaving the window stay in the histogram, where their weight has decayed to 2^-N of a new one.
    private void AddMemoryPeak(DateTimeOffset time, double bytes)
    {
        if (_peaks.Count > 0 && time < _peaks[^1].IntervalStart + _options.MemoryPeakInterval)
        {
            var open = _peaks[^1];
            if (bytes <= open.Bytes)
            {
                return;
            }
            _memory.Subtract(open.Bytes, 1, open.Time);
            _memory.Add(bytes, 1, time);
            _peaks[^1] = open with { Time = time, Bytes = bytes };
            return;
        }
        var start = _peaks.Count == 0
            ? time
            : _peaks[^1].IntervalStart + (Math.Floor((time - _peaks[^1].IntervalStart) / _options.MemoryPeakInterval) * _options.MemoryPeakInterval);
        _peaks.Add(new MemoryPeak(start, time, bytes));
        _memory.Add(bytes, 1, time);
        if (_peaks.Count > _options.MemoryPeakIntervals)
        {
            _peaks.RemoveAt(0);
        }
    }
}
