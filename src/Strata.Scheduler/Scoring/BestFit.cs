namespace Strata.Scheduler.Scoring;

/// <summary>
/// Nomad's BestFit-v3 fitness (nomad/structs/funcs.go): with f_cpu and f_mem the fractions of the node's CPU and
/// memory left free <em>after</em> this placement, <c>total = 10^f_cpu + 10^f_mem</c> runs from 2 (full) to 20
/// (empty). Bin-pack scores <c>20 − total</c>, spread <c>total − 2</c>, each clamped to 0–18; both are
/// normalised here to 0–100.
/// </summary>
public static class BestFit
{
    public const double MaxFit = 18.0;

    /// <summary>
    /// <c>10^f_cpu + 10^f_mem</c> for the node after the request is placed on it, on predicted use: the node's
    /// <see cref="NodeCandidate.PredictedFree"/> less the request's <see cref="PlacementRequest.Predicted"/> (each
    /// falling back to declared limits where there is no usage history).
    /// </summary>
    public static double Total(in NodeCandidate node, PlacementRequest request)
    {
        var capacity = node.Node.Capacity;
        var after = node.PredictedFree - (request.Predicted ?? request.Resources);
        return Math.Pow(10, Fraction(after.CpuMillis, capacity.CpuMillis)) + Math.Pow(10, Fraction(after.MemoryBytes, capacity.MemoryBytes));
    }

    public static double Normalise(double fit) => Math.Clamp(fit, 0, MaxFit) * (100.0 / MaxFit);

    private static double Fraction(long free, long capacity) =>
        capacity <= 0 ? 0 : Math.Clamp((double)free / capacity, 0, 1);
}
