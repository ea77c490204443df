namespace Strata.Scheduler.Scoring;

/// <summary>
/// The default: prefer the node that is fullest after the placement (BestFit-v3, <c>20 − (10^f_cpu + 10^f_mem)</c>),
/// so whole nodes stay free for big requests and idle nodes can be drained.
/// </summary>
public sealed class BinPackScore : IScorePlugin
{
    public const string PluginName = "binpack";

    public string Name => PluginName;

    public int DefaultWeight => 1;

    public bool AppliesTo(PlacementRequest request) => true;

    public double Score(in NodeCandidate node, PlacementRequest request) =>
        BestFit.Normalise(20.0 - BestFit.Total(node, request));
}
