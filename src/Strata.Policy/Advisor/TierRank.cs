using Strata.Contracts;

namespace Strata.Policy.Advisor;

/// <summary>
/// The isolation order of the tiers, weakest first: process (0) &lt; container (1) &lt; wasm (2) &lt;
/// sandbox (3) &lt; vm (4). It is also the order of cost: the advisor picks the weakest tier that
/// satisfies every rule, so a stronger requirement can only move the choice up this list.
/// docs/advisor.md explains why wasm sits between container and sandbox.
/// </summary>
public static class TierRank
{
    /// <summary>The user tiers in isolation order, weakest first (the same order as <see cref="TierNames.UserTiers"/>).</summary>
    public static readonly IReadOnlyList<Tier> Ordered = [Tier.Process, Tier.Container, Tier.Wasm, Tier.Sandbox, Tier.Vm];

    public static int Of(Tier tier) => tier switch
    {
        Tier.Process => 0,
        Tier.Container => 1,
        Tier.Wasm => 2,
        Tier.Sandbox => 3,
        Tier.Vm => 4,
        _ => throw new ArgumentOutOfRangeException(nameof(tier), tier, "the advisor ranks only the user tiers"),
    };

    /// <summary>The tiers at least as strong as <paramref name="minimum"/>.</summary>
    public static IReadOnlyList<Tier> AtLeast(Tier minimum) => [.. Ordered.Where(t => Of(t) >= Of(minimum))];
}
