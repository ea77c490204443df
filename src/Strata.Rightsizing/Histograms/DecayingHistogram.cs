namespace Strata.Rightsizing.Histograms;

/// <summary>
/// A histogram whose samples lose half their weight every <see cref="HalfLife"/> (VPA's decaying histogram). Rather
/// than decaying every bucket as time passes, a new sample is weighted up by 2^((t − reference) / half-life); the
/// reference moves forward (scaling all weights down) before the factor grows too large for a double.
/// </summary>
public sealed class DecayingHistogram
{
    // 2^100 leaves ample headroom below double's range; VPA uses the same bound.
    private const double MaxDecayExponent = 100;
    private readonly double[] _weights;
    private double _total;
    private DateTimeOffset? _reference;

    public DecayingHistogram(HistogramOptions options, TimeSpan halfLife)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(halfLife, TimeSpan.Zero);
        Options = options;
        HalfLife = halfLife;
        _weights = new double[options.BucketCount];
    }

    public HistogramOptions Options { get; }

    public TimeSpan HalfLife { get; }

    public bool IsEmpty => _total <= 0;

    /// <summary>Adds a sample of <paramref name="value"/> with <paramref name="weight"/> as of <paramref name="time"/>.</summary>
    public void Add(double value, double weight, DateTimeOffset time)
    {
        if (!(weight > 0) || double.IsNaN(value))
        {
            return;
        }
        var scaled = weight * DecayFactor(time);
        _weights[Options.BucketOf(value)] += scaled;
        _total += scaled;
    }

    /// <summary>Removes a sample added earlier with the same value, weight and time (used to replace a running peak).</summary>
    public void Subtract(double value, double weight, DateTimeOffset time)
    {
        if (!(weight > 0) || _reference is null)
        {
            return;
        }
        var bucket = Options.BucketOf(value);
        var scaled = weight * DecayFactor(time);
        _weights[bucket] = Math.Max(0, _weights[bucket] - scaled);
        _total = Math.Max(0, _total - scaled);
        if (_weights[bucket] < 1e-12 * Math.Max(1, _total))
        {
            _weights[bucket] = 0;
        }
    }

    /// <summary>
    /// The value below which a fraction <paramref name="percentile"/> of the weight lies: the end of the bucket where
    /// the running weight reaches it (VPA's convention, so a percentile never under-states its bucket). 0 when empty.
    /// </summary>
    public double Percentile(double percentile)
    {
        if (IsEmpty)
        {
            return 0;
        }
        var threshold = percentile * _total;
        var sum = 0.0;
        var bucket = 0;
        var last = LastNonEmpty();
        for (; bucket < last; bucket++)
        {
            sum += _weights[bucket];
            if (sum >= threshold)
            {
                break;
            }
        }
        return bucket < _weights.Length - 1 ? Options.BucketStart(bucket + 1) : Options.BucketStart(bucket);
    }

    /// <summary>The total weight of all samples as seen at <paramref name="now"/> (a sample one half-life old counts half).</summary>
    public double TotalWeight(DateTimeOffset now) =>
        _reference is { } reference ? _total * Math.Pow(2, -(now - reference) / HalfLife) : 0;

    public HistogramState ToState()
    {
        var buckets = new List<HistogramBucket>();
        for (var i = 0; i < _weights.Length; i++)
        {
            if (_weights[i] > 0)
            {
                buckets.Add(new HistogramBucket(i, _weights[i]));
            }
        }
        return new HistogramState { Reference = _reference ?? default, Buckets = buckets };
    }

    /// <summary>Rebuilds a histogram from its stored form; throws an ArgumentException naming what is wrong with it.</summary>
    public static DecayingHistogram FromState(HistogramState state, HistogramOptions options, TimeSpan halfLife)
    {
        if (state.Version != HistogramState.CurrentVersion)
        {
            throw new ArgumentException($"histogram state version {state.Version} is not supported; this build reads version {HistogramState.CurrentVersion}", nameof(state));
        }
        var histogram = new DecayingHistogram(options, halfLife);
        foreach (var bucket in state.Buckets)
        {
            if (bucket.Index < 0 || bucket.Index >= histogram._weights.Length || !(bucket.Weight >= 0) || double.IsInfinity(bucket.Weight))
            {
                throw new ArgumentException($"histogram bucket {bucket.Index} with weight {bucket.Weight} is outside the layout of {histogram._weights.Length} buckets", nameof(state));
            }
            histogram._weights[bucket.Index] += bucket.Weight;
            histogram._total += bucket.Weight;
        }
        if (histogram._total > 0)
        {
            histogram._reference = state.Reference;
        }
        return histogram;
    }

    private int LastNonEmpty()
    {
        for (var i = _weights.Length - 1; i > 0; i--)
        {
            if (_weights[i] > 0)
            {
                return i;
            }
        }
        return 0;
    }

    private double DecayFactor(DateTimeOffset time)
    {
        if (_reference is null)
        {
            _reference = Round(time);
        }
        var exponent = (time - _reference.Value) / HalfLife;
        if (exponent > MaxDecayExponent)
        {
            ShiftReference(Round(time));
            exponent = (time - _reference.Value) / HalfLife;
        }
        return Math.Pow(2, exponent);
    }

    private void ShiftReference(DateTimeOffset reference)
    {
        var factor = Math.Pow(2, -(reference - _reference!.Value) / HalfLife);
        _total = 0;
        for (var i = 0; i < _weights.Length; i++)
        {
            _weights[i] *= factor;
            _total += _weights[i];
        }
        _reference = reference;
    }

    // Reference times are whole half-lives, so two histograms fed the same samples agree exactly.
    private DateTimeOffset Round(DateTimeOffset time) =>
        new(time.UtcTicks - (time.UtcTicks % HalfLife.Ticks), TimeSpan.Zero);
}
