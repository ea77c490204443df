namespace Strata.Rightsizing.Policy;

/// <summary>The policy's memory of one instance: how many samples in a row a limit has been off, and the last change.</summary>
public sealed record RightsizeState
{
    public int ConsecutiveOff { get; init; }

    public DateTimeOffset? LastChange { get; init; }
}
