namespace Strata.Contracts;

/// <summary>
/// The isolation tiers. The numbers are stored on disk and must never change
/// (pinned by PersistedEnumStabilityTests).
/// </summary>
public enum Tier
{
    /// <summary>Straight on the host ("physical"): no isolation.</summary>
    Process = 1,
    /// <summary>OCI image in namespaces and cgroups.</summary>
    Container = 2,
    /// <summary>The same OCI image inside a microVM.</summary>
    Sandbox = 3,
    /// <summary>A full OS with its own kernel.</summary>
    Vm = 4,
    /// <summary>A WebAssembly module with WASI.</summary>
    Wasm = 5,
    /// <summary>The in-memory fake used by tests. Never offered to users unless the daemon enables it.</summary>
    Fake = 99,
}

public static class TierNames
{
    public const string Process = "process";
    public const string Container = "container";
    public const string Sandbox = "sandbox";
    public const string Vm = "vm";
    public const string Wasm = "wasm";
    public const string Fake = "fake";
    public const string Auto = "auto";

    /// <summary>The user-facing tiers, weakest isolation first.</summary>
    public static readonly IReadOnlyList<Tier> UserTiers = [Tier.Process, Tier.Container, Tier.Wasm, Tier.Sandbox, Tier.Vm];

    public static string ToName(this Tier tier) => tier switch
    {
        Tier.Process => Process,
        Tier.Container => Container,
        Tier.Sandbox => Sandbox,
        Tier.Vm => Vm,
        Tier.Wasm => Wasm,
        Tier.Fake => Fake,
        _ => throw new ArgumentOutOfRangeException(nameof(tier), tier, "unknown tier"),
    };

    public static bool TryParse(string? name, out Tier tier)
    {
        switch (name?.Trim().ToLowerInvariant())
        {
            case Process: tier = Tier.Process; return true;
            case Container: tier = Tier.Container; return true;
            case Sandbox: tier = Tier.Sandbox; return true;
            case Vm: tier = Tier.Vm; return true;
            case Wasm: tier = Tier.Wasm; return true;
            case Fake: tier = Tier.Fake; return true;
            default: tier = default; return false;
        }
    }
}
