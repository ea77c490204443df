namespace Strata.Scheduler.Scoring;

/// <summary>
/// The alternative to bin-pack: prefer the emptiest node after the placement (<c>(10^f_cpu + 10^f_mem) − 2</c>),
/// so load and failure impact are spread across nodes.
/// </summary>
public sealed class SpreadScore : IScorePlugin
{
    public const string PluginName = "spread";

    public string Name => PluginName;

    public int DefaultWeight => 1;

    public bool AppliesTo(PlacementRequest request) => true;

    public double Score(in NodeCandidate node, PlacementRequest request) =>
        BestFit.Normalise(BestFit.Total(node, request) - 2.0);
}
