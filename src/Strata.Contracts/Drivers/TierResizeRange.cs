namespace Strata.Contracts.Drivers;

/// <summary>
/// What each tier's live resize can take, in one place for the drivers (which refuse what is outside) and for
/// right-sizing (which clamps a recommendation to it before applying, and says so).
/// </summary>
public static class TierResizeRange
{
    /// <summary>The smallest memory limit a cgroup resize sets (container, process, fake): the spec's minimum.</summary>
    public const long CgroupMinimumMemoryBytes = 4 * 1024 * 1024;

    /// <summary>The smallest balloon size of a vm or sandbox: below it the guest's kernel has no room to work.</summary>
    public const int GuestMinimumMemoryMiB = 64;

    /// <summary>What a vm or sandbox boots with when its spec sets no memory (the balloon's ceiling).</summary>
    public const int GuestDefaultMemoryMiB = 256;

    /// <summary>The smallest memory limit <paramref name="tier"/>'s resize takes.</summary>
    public static long MinimumMemoryBytes(Tier tier) =>
        tier is Tier.Vm or Tier.Sandbox ? GuestMinimumMemoryMiB * 1024L * 1024 : CgroupMinimumMemoryBytes;

    /// <summary>
    /// The most memory a vm or sandbox can be given while it runs: what it booted with (the balloon gives back, it
    /// cannot add), in whole MiB as the tier boots it. Null for the other tiers (their ceiling is the host).
    /// </summary>
    public static long? MaximumMemoryBytes(Tier tier, long? specMemoryBytes) =>
        tier is Tier.Vm or Tier.Sandbox ? (specMemoryBytes / Mib ?? GuestDefaultMemoryMiB) * Mib : null;

    private const long Mib = 1024 * 1024;
}
