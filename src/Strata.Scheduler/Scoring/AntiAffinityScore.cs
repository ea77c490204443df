namespace Strata.Scheduler.Scoring;

/// <summary>
/// Soft anti-affinity: a node already running <c>n</c> instances of the same project's group scores
/// <c>100 / (1 + n)</c>, so an empty node wins unless the other plugins disagree strongly.
/// </summary>
public sealed class AntiAffinityScore : IScorePlugin
{
    public const string PluginName = "anti-affinity";

    public string Name => PluginName;

    public int DefaultWeight => 2;

    public bool AppliesTo(PlacementRequest request) => request.AntiAffinity is { Hard: false };

    public double Score(in NodeCandidate node, PlacementRequest request) =>
        100.0 / (1 + node.CountInGroup(request.Project, request.AntiAffinity!.Group));
}
