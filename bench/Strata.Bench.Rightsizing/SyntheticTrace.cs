using Strata.Rightsizing;

/// <summary>The shapes of usage the benchmark replays.</summary>
internal enum TraceKind
{
    Steady,
    Diurnal,
    Spiky,
    Growing,
    Mixed,
}

/// <summary>
/// One seeded synthetic usage trace: a base level (memory 64 MiB–2 GiB, CPU 0.05–2 cores, log-uniform), shaped by its
/// kind, with 2 % (memory) and 10 % (CPU) noise, and the limits a user declared by hand (1.5–2.5 × the base).
/// Steady: the base. Diurnal: ±30 % memory and ±60 % CPU over the day. Spiky: bursts of 2–10 minutes to 1.3–1.8 ×
/// memory (3 × CPU), about six a day. Growing: a linear leak of 5–20 % of the base a day. Mixed: a diurnal ±20 %,
/// a leak of 0–8 % a day and spikes to 1.2–1.5 × about twice a day.
/// </summary>
internal sealed class SyntheticTrace
{
    private const double Mib = 1 << 20;

    public required TraceKind Kind { get; init; }

    public required double[] Cpu { get; init; }

    public required double[] Memory { get; init; }

    /// <summary>The memory the trace would use without its spikes (same level, season, leak and noise).</summary>
    public required double[] MemoryWithoutSpikes { get; init; }

    /// <summary>The largest spike factor the trace draws (1 when it has none).</summary>
    public required double LargestSpike { get; init; }

    public required ResourceLimits Declared { get; init; }

    public static SyntheticTrace Generate(TraceKind kind, int seed, int samples, TimeSpan step)
    {
        var random = new Random(seed);
        var memBase = Math.Exp(Uniform(random, Math.Log(64 * Mib), Math.Log(2048 * Mib)));
        var cpuBase = Math.Exp(Uniform(random, Math.Log(0.05), Math.Log(2)));
        var phase = Uniform(random, 0, 2 * Math.PI);
        var (memAmplitude, cpuAmplitude, growth, spikesPerDay, spikeLow, spikeHigh) = kind switch
        {
            TraceKind.Steady => (0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
            TraceKind.Diurnal => (0.3, 0.6, 0.0, 0.0, 0.0, 0.0),
            TraceKind.Spiky => (0.0, 0.0, 0.0, 6.0, 1.3, 1.8),
            TraceKind.Growing => (0.0, 0.0, Uniform(random, 0.05, 0.20), 0.0, 0.0, 0.0),
            _ => (0.2, 0.4, Uniform(random, 0.0, 0.08), 2.0, 1.2, 1.5),
        };
        var spikeChance = spikesPerDay * step / TimeSpan.FromDays(1);
        var cpu = new double[samples];
        var memory = new double[samples];
        var withoutSpikes = new double[samples];
        var largestSpike = 1.0;
        var spikeLeft = 0;
        var spikeFactor = 1.0;
        for (var i = 0; i < samples; i++)
        {
            var days = i * step / TimeSpan.FromDays(1);
            var day = Math.Sin((2 * Math.PI * days) + phase);
            if (spikeLeft == 0 && random.NextDouble() < spikeChance)
            {
                spikeLeft = (int)Math.Max(1, TimeSpan.FromMinutes(random.Next(2, 11)) / step);
                spikeFactor = Uniform(random, spikeLow, spikeHigh);
                largestSpike = Math.Max(largestSpike, spikeFactor);
            }
            var spike = spikeLeft > 0 ? spikeFactor : 1.0;
            spikeLeft = Math.Max(0, spikeLeft - 1);
            var level = 1 + (growth * days);
            var noise = Gaussian(random, 0.02);
            memory[i] = memBase * ((level * (1 + (memAmplitude * day)) * spike) + noise);
            withoutSpikes[i] = memBase * ((level * (1 + (memAmplitude * day))) + noise);
            var cpuSpike = spike > 1 ? 3.0 : 1.0;
            cpu[i] = Math.Max(0.001, cpuBase * ((1 + (cpuAmplitude * day)) * cpuSpike + Gaussian(random, 0.1)));
        }
        var declared = new ResourceLimits(cpuBase * Uniform(random, 1.5, 2.5), memBase * Uniform(random, 1.5, 2.5));
        return new SyntheticTrace { Kind = kind, Cpu = cpu, Memory = memory, MemoryWithoutSpikes = withoutSpikes, LargestSpike = largestSpike, Declared = declared };
    }

    private static double Uniform(Random random, double low, double high) => low + (random.NextDouble() * (high - low));

    // Box-Muller, one value per call: deterministic for a seed.
    private static double Gaussian(Random random, double sigma) =>
        sigma * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
