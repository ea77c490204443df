using System.Globalization;
using Strata.Contracts;

namespace Strata.Policy.Advisor;

/// <summary>
/// Everything the advisor knows about this host and the workload's project. The caller gathers it
/// (driver fingerprints, benchmark results, the image store, project settings); the advisor only reads it.
/// </summary>
public sealed record AdvisorContext
{
    /// <summary>The host's operating system (any spelling <see cref="Platform.NormalizeOs"/> understands).</summary>
    public string HostOs { get; init; } = "linux";

    /// <summary>The host's CPU architecture (<c>x86_64</c>, <c>amd64</c>, <c>aarch64</c>, ...).</summary>
    public required string HostArch { get; init; }

    /// <summary>The workload's image reference, used to guess <see cref="ImageKind"/> and in explanations.</summary>
    public string? Image { get; init; }

    /// <summary>What the image is. Null: guessed from <see cref="Image"/> by <see cref="ImageKinds.Guess"/>.</summary>
    public ImageKind? ImageKind { get; init; }

    /// <summary>Which tiers work on this host and why not. A tier missing here counts as unavailable.</summary>
    public IReadOnlyDictionary<Tier, TierAvailability> Tiers { get; init; } = new Dictionary<Tier, TierAvailability>();

    /// <summary>Start latency per tier on this host. A tier missing here gets its documented class.</summary>
    public IReadOnlyDictionary<Tier, TierCost> Costs { get; init; } = new Dictionary<Tier, TierCost>();

    /// <summary>Whether the sandbox can use KVM here; only picks the documented class (~1 s vs ~4 s) when no measurement exists.</summary>
    public bool HardwareAccelerated { get; init; }

    /// <summary>The operator's rules for the workload's project, if any.</summary>
    public ProjectOverrides? Project { get; init; }

    /// <summary>The image kind the advisor uses: the given one, else the guess from the image reference.</summary>
    public ImageKind EffectiveImageKind => ImageKind ?? ImageKinds.Guess(Image);

    /// <summary>The cost of a tier here: the measurement when present, else the documented class.</summary>
    public TierCost CostOf(Tier tier) =>
        Costs.TryGetValue(tier, out var cost) ? cost : TierCost.Documented(tier, HardwareAccelerated);

    /// <summary>Turns the daemon's tier list (<see cref="DaemonInfo.Tiers"/>) into the map the advisor reads.</summary>
    public static IReadOnlyDictionary<Tier, TierAvailability> AvailabilityFrom(IEnumerable<TierAvailability> tiers)
    {
        var map = new Dictionary<Tier, TierAvailability>();
        foreach (var availability in tiers)
        {
            if (TierNames.TryParse(availability.Tier, out var tier) && tier != Tier.Fake)
            {
                map[tier] = availability;
            }
        }
        return map;
    }

    /// <summary>A map in which every user tier is available (for tests and for "what would it be on a full host").</summary>
    public static IReadOnlyDictionary<Tier, TierAvailability> AllAvailable() =>
        TierRank.Ordered.ToDictionary(t => t, t => new TierAvailability(t.ToName(), true, "available", null));
}

/// <summary>Where a start-latency figure comes from.</summary>
public enum CostSource
{
    /// <summary>The tier's documented latency class (no benchmark has run on this host).</summary>
    Documented = 0,
    /// <summary>The median of <c>strata bench</c> runs on this host.</summary>
    Measured = 1,
}

/// <summary>What starting a workload on a tier costs on this host.</summary>
public sealed record TierCost(TimeSpan StartLatency, CostSource Source, string? Detail = null)
{
    /// <summary>The documented class: process ~1 ms, wasm ~1 ms, container ~50 ms, sandbox ~1 s (KVM) / ~4 s (TCG), vm ~4 s.</summary>
    public static TierCost Documented(Tier tier, bool hardwareAccelerated = false) => tier switch
    {
        Tier.Process => new(TimeSpan.FromMilliseconds(1), CostSource.Documented),
        Tier.Wasm => new(TimeSpan.FromMilliseconds(1), CostSource.Documented),
        Tier.Container => new(TimeSpan.FromMilliseconds(50), CostSource.Documented),
        Tier.Sandbox => hardwareAccelerated
            ? new(TimeSpan.FromSeconds(1), CostSource.Documented, "KVM")
            : new(TimeSpan.FromSeconds(4), CostSource.Documented, "TCG"),
        Tier.Vm => new(TimeSpan.FromSeconds(4), CostSource.Documented),
        _ => throw new ArgumentOutOfRangeException(nameof(tier), tier, "no documented class for this tier"),
    };

    /// <summary>A measured median start latency on this host.</summary>
    public static TierCost Measured(TimeSpan medianStartLatency, string? detail = null) =>
        new(medianStartLatency, CostSource.Measured, detail);

    /// <summary>e.g. <c>21 ms (measured on this host)</c> or <c>~4 s (documented class, TCG)</c>.</summary>
    public override string ToString()
    {
        var latency = Durations.Format(StartLatency);
        return Source == CostSource.Measured
            ? $"{latency} (measured on this host{(Detail is null ? "" : $", {Detail}")})"
            : $"~{latency} (documented class{(Detail is null ? "" : $", {Detail}")})";
    }
}

/// <summary>An operator's rules for one project.</summary>
public sealed record ProjectOverrides
{
    public string Name { get; init; } = "default";

    /// <summary>The only tiers workloads of this project may use; null allows every tier.</summary>
    public IReadOnlySet<Tier>? AllowedTiers { get; init; }

    /// <summary>
    /// The weakest tier untrusted code may get in this project; null means the default, sandbox.
    /// It may be set to wasm (accepting Wasm's language sandbox for untrusted modules) or raised to vm,
    /// never to process or container: untrusted code never gets those, whatever a project says.
    /// </summary>
    public Tier? MinimumTierForUntrusted { get; init; }

    /// <summary>Throws <see cref="StrataException"/> (invalid argument) when the overrides break the fixed floor.</summary>
    public void Validate()
    {
        if (MinimumTierForUntrusted is { } minimum)
        {
            if (!TierRank.Ordered.Contains(minimum))
            {
                throw StrataException.Invalid("minimumTierForUntrusted", $"'{minimum}' is not a user tier: use wasm, sandbox or vm");
            }
            if (TierRank.Of(minimum) < TierRank.Of(TierAdvisor.UntrustedFloor))
            {
                throw StrataException.Invalid("minimumTierForUntrusted",
                    $"'{minimum.ToName()}' is below the floor: untrusted code never runs on process or container; use wasm, sandbox or vm");
            }
        }
        if (AllowedTiers is { Count: 0 })
        {
            throw StrataException.Invalid("allowedTiers", "an empty list would forbid every workload: list at least one tier, or leave it unset to allow all");
        }
    }
}

/// <summary>Human formatting of short durations, shared by costs and messages.</summary>
internal static class Durations
{
    public static string Format(TimeSpan value)
    {
        if (value < TimeSpan.FromMilliseconds(1))
        {
            return $"{(value.Ticks / 10.0).ToString("0.#", CultureInfo.InvariantCulture)} µs";
        }
        if (value < TimeSpan.FromSeconds(1))
        {
            return $"{value.TotalMilliseconds.ToString("0.#", CultureInfo.InvariantCulture)} ms";
        }
        return $"{value.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture)} s";
    }
}
