using System.Globalization;
using Strata.Contracts;

namespace Strata.Client;

/// <summary>Rebalancing: the plan (as the scheduler's JSON, which this library does not model) and carrying it out.</summary>
public sealed partial class StrataClient
{
    /// <summary><c>GET /v1/rebalance</c>: the rebalancer's decision now, as JSON (a <c>RebalanceDecision</c>).</summary>
    public Task<string> RebalanceJsonAsync(double? threshold = null, CancellationToken ct = default) =>
        GetTextAsync(Q("v1/rebalance", Threshold(threshold)), ct);

    /// <summary><c>POST /v1/rebalance</c>: plans again and carries out the move; an operation whose result is a <c>RebalanceOutcome</c>.</summary>
    public Task<OperationInfo> ApplyRebalanceAsync(double? threshold = null, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, Q("v1/rebalance", Threshold(threshold)), null, StrataJsonContext.Default.OperationInfo, ct);

    private static string? Threshold(double? threshold) =>
        threshold is { } t ? "threshold=" + t.ToString("R", CultureInfo.InvariantCulture) : null;
}
