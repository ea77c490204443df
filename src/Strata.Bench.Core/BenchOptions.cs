namespace Strata.Bench.Core;

/// <summary>What one <c>strata bench</c> run measures and how long it may take.</summary>
public sealed record BenchOptions
{
    /// <summary>Tiers to measure; null means every user tier the daemon reports as available.</summary>
    public IReadOnlyList<string>? Tiers { get; init; }
    public bool Quick { get; init; }
    /// <summary>Start-latency rounds for fast targets (process, container, wasm and their baselines).</summary>
    public int Runs { get; init; } = 20;
    /// <summary>Rounds for targets that boot a guest (sandbox, vm, raw QEMU): seconds each under TCG.</summary>
    public int SlowRuns { get; init; } = 5;
    /// <summary>Idle instances started per fast tier for the density estimate (bounded by <see cref="DensityBudgetBytes"/>).</summary>
    public int DensityInstances { get; init; } = 10;
    public int SlowDensityInstances { get; init; } = 3;
    /// <summary>Memory budget the density is computed for; null means half of the host's available memory.</summary>
    public long? DensityBudgetBytes { get; init; }
    /// <summary>Iterations of the shell loop used as the CPU-bound kernel.</summary>
    public int CpuIterations { get; init; } = 150_000;
    public bool Baselines { get; init; } = true;
    public bool Snapshots { get; init; } = true;
    /// <summary>Image used by the container, sandbox and vm tiers (built with <c>image build-base</c> when missing).</summary>
    public string Image { get; init; } = "busybox:latest";
    /// <summary>Scratch directory for baselines (rootfs, bundle, module); a fresh temporary one when null.</summary>
    public string? WorkDirectory { get; init; }

    /// <summary>The quick profile: about a minute on a 2-core machine with TCG guests.</summary>
    public static BenchOptions QuickProfile => new()
    {
        Quick = true,
        Runs = 5,
        SlowRuns = 1,
        DensityInstances = 3,
        SlowDensityInstances = 1,
        CpuIterations = 30_000,
    };
}

/// <summary>Progress of a run, for the live display: what is happening and how far along the run is.</summary>
public sealed record BenchProgress(string Phase, string Message, int Done, int Total);
