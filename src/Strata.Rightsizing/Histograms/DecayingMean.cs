namespace Strata.Rightsizing.Histograms;

/// <summary>A mean whose samples lose half their weight every half-life, like the histograms.</summary>
public sealed class DecayingMean(TimeSpan halfLife)
{
    private const double MaxExponent = 100;
    private double _sum;
    private double _weight;
    private DateTimeOffset? _reference;

    /// <summary>The mean, or 0 before the first sample.</summary>
    public double Value => _weight > 0 ? _sum / _weight : 0;

    public void Add(double value, DateTimeOffset time)
    {
        _reference ??= time;
        var exponent = (time - _reference.Value) / halfLife;
        if (exponent > MaxExponent)
        {
            var factor = Math.Pow(2, -exponent);
            _sum *= factor;
            _weight *= factor;
            _reference = time;
            exponent = 0;
        }
        var weight = Math.Pow(2, exponent);
        _sum += value * weight;
        _weight += weight;
    }

    public DecayingMeanState ToState() => new(_sum, _weight, _reference);

    public static DecayingMean FromState(DecayingMeanState state, TimeSpan halfLife) =>
        new(halfLife) { _sum = state.Sum, _weight = state.Weight, _reference = state.Reference };
}

/// <summary>The stored form of a <see cref="DecayingMean"/>.</summary>
public sealed record DecayingMeanState(double Sum = 0, double Weight = 0, DateTimeOffset? Reference = null);
