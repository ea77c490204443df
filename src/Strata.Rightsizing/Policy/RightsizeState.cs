namespace Strata.Rightsizing.Policy;

/// <summary>
/// The policy's memory of one instance: how many samples in a row a limit has been off, and the last change. The
/// caller may note what that change was (<see cref="LastReason"/>, <see cref="LastExplanation"/>): the policy keeps
/// them until its next change, which replaces the state.
/// </summary>
public sealed record RightsizeState
{
    public int ConsecutiveOff { get; init; }

    public DateTimeOffset? LastChange { get; init; }

    public RightsizeReason? LastReason { get; init; }

    public string? LastExplanation { get; init; }
}
