namespace Strata.Contracts.Drivers;

/// <summary>
/// What the registered drivers declare about their tiers. Whatever depends on what a tier can do (which tiers join
/// networks, which a project may require for untrusted code, which take snapshots) asks here instead of listing tiers.
/// </summary>
public interface ITierCapabilities
{
    /// <summary>The tiers that have a driver in this daemon.</summary>
    IReadOnlyCollection<Tier> Tiers { get; }

    /// <summary>What the tier's driver declares, or null when this daemon has no driver for it.</summary>
    DriverCapabilities? Of(Tier tier);
}
