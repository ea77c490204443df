using Strata.Contracts;

namespace Strata.Client;

/// <summary>Right-sizing: recommendations, applying one, and recent usage samples.</summary>
public sealed partial class StrataClient
{
    /// <summary>Recommendations for <paramref name="names"/>, or for every sampled instance of the project when none is given.</summary>
    public Task<RecommendationList> RecommendationsAsync(IReadOnlyCollection<string>? names = null, CancellationToken ct = default)
    {
        var query = names is { Count: > 0 } ? string.Join('&', names.Select(n => "name=" + N(n))) : null;
        return GetAsync(Q("v1/recommendations", query), StrataJsonContext.Default.RecommendationList, ct);
    }

    public Task<InstanceRecommendation> RecommendationAsync(string name, CancellationToken ct = default) =>
        GetAsync(Q($"v1/instances/{N(name)}/recommendation"), StrataJsonContext.Default.InstanceRecommendation, ct);

    /// <summary>Sets a running instance's limits to its recommendation (live resize).</summary>
    public Task<ApplyRecommendationResponse> ApplyRecommendationAsync(string name, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, Q($"v1/instances/{N(name)}/recommendation/apply"), null, StrataJsonContext.Default.ApplyRecommendationResponse, ct);

    /// <summary>Sets the instance's own right-sizing mode (off, recommend, auto; null: its project's default).</summary>
    public Task<RightsizeStatus> SetRightsizeAsync(string name, string? mode, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Put, Q($"v1/instances/{N(name)}/rightsize"), Body(new RightsizeSetting { Mode = mode }, StrataJsonContext.Default.RightsizeSetting), StrataJsonContext.Default.RightsizeStatus, ct);

    /// <summary>Sets the right-sizing mode a project's instances follow unless they set their own.</summary>
    public Task<ProjectInfo> SetProjectRightsizeAsync(string project, string? mode, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Put, $"v1/projects/{N(project)}/rightsize", Body(new RightsizeSetting { Mode = mode }, StrataJsonContext.Default.RightsizeSetting), StrataJsonContext.Default.ProjectInfo, ct);

    /// <summary>The instance's recent usage samples (the last hour at the sampling interval).</summary>
    public Task<UsageHistoryView> UsageHistoryAsync(string name, CancellationToken ct = default) =>
        GetAsync(Q($"v1/instances/{N(name)}/usage"), StrataJsonContext.Default.UsageHistoryView, ct);
}
