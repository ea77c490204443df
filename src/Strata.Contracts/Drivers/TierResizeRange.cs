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

    /// <summary>The finest CPU limit a cgroup resize sets (container, process, fake): a hundredth of a core, 1 ms of each 100 ms period.</summary>
    public const double CgroupCpuStep = 0.01;

    /// <summary>
    /// A vm's or sandbox's vCPU count from a resize's CPUs (null: unchanged). A guest adds and removes whole vCPUs, so
    /// a fraction is refused (400) naming the whole number to give; fractions of a core are for the cgroup tiers.
    /// </summary>
    public static int? WholeVcpus(double? cpus, string tierName) => cpus switch
    {
        null => null,
        { } c when c >= 1 && c == Math.Floor(c) && c <= int.MaxValue => (int)c,
        { } c => throw StrataException.Invalid("cpus",
            $"the {tierName} tier takes whole vCPUs, and {c.ToString(System.Globalization.CultureInfo.InvariantCulture)} is not one; give {Math.Max(1, Math.Ceiling(c)).ToString(System.Globalization.CultureInfo.InvariantCulture)} (fractions of a core are for the container and process tiers)"),
    };

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
