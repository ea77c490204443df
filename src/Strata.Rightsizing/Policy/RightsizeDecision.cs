namespace Strata.Rightsizing.Policy;

/// <summary>
/// One decision: whether to apply <see cref="Limits"/> now, why (a stable reason and a sentence with the numbers),
/// and the policy state to keep for the next sample.
/// </summary>
public sealed record RightsizeDecision
{
    public required bool Apply { get; init; }

    /// <summary>The limits to apply when <see cref="Apply"/>; otherwise what the policy would have applied, or the current ones.</summary>
    public required ResourceLimits Limits { get; init; }

    public required RightsizeReason Reason { get; init; }

    public required string Explanation { get; init; }

    public required RightsizeState State { get; init; }
}
