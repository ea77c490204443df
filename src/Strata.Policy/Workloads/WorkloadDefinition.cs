using Strata.Contracts;
using Strata.Policy.Advisor;

namespace Strata.Policy.Workloads;

/// <summary>One workload as a workload file describes it.</summary>
public sealed record WorkloadDefinition
{
    /// <summary>DNS label, unique in its file.</summary>
    public required string Name { get; init; }

    /// <summary>OCI image reference, Wasm module or disk image; null for a host command.</summary>
    public string? Image { get; init; }

    public IReadOnlyList<string>? Command { get; init; }

    public IReadOnlyList<string>? Args { get; init; }

    public IReadOnlyDictionary<string, string>? Env { get; init; }

    public WorkloadResources? Resources { get; init; }

    /// <summary>The tier set by hand; null means <c>auto</c>: the advisor picks it.</summary>
    public Tier? Tier { get; init; }

    public bool IsAuto => Tier is null;

    /// <summary>The project the workload belongs to; null means the caller's default project.</summary>
    public string? Project { get; init; }

    public Requirements Requirements { get; init; } = new();

    /// <summary>The file line where the workload starts (1-based), for messages about it.</summary>
    public int Line { get; init; }

    /// <summary>The API request that creates this workload on <paramref name="tier"/> (a tier name such as <c>container</c>).</summary>
    public InstanceSpec ToInstanceSpec(string tier)
    {
        if (!TierNames.TryParse(tier, out var parsed) || parsed == Contracts.Tier.Fake)
        {
            throw StrataException.Invalid("tier", $"'{tier}' is not a tier: use process, container, sandbox, vm or wasm");
        }
        return new InstanceSpec
        {
            Name = Name,
            Tier = parsed.ToName(),
            Image = Image,
            Command = Command,
            Args = Args,
            Env = Env,
            Resources = Resources is { } r ? new ResourceSpec { Cpus = r.Cpus, MemoryBytes = r.MemoryBytes, Pids = r.Pids } : null,
        };
    }

    /// <summary>The same as <see cref="ToInstanceSpec(string)"/> for a parsed tier.</summary>
    public InstanceSpec ToInstanceSpec(Tier tier) => ToInstanceSpec(tier.ToName());
}

/// <summary>Resource limits of a workload.</summary>
public sealed record WorkloadResources
{
    /// <summary>CPU quota in cores (0.5 = half a core).</summary>
    public double? Cpus { get; init; }

    public long? MemoryBytes { get; init; }

    public long? Pids { get; init; }
}
