using Strata.Contracts;
using Strata.Control;
using Strata.Control.Usage;

namespace Strata.Daemon.Api;

/// <summary>
/// Right-sizing: <c>/v1/recommendations</c>, <c>/v1/instances/{name}/recommendation</c> (and <c>/apply</c>) and
/// <c>/v1/instances/{name}/usage</c>. Everything is within the caller's project (docs/rightsizing.md).
/// </summary>
public static class UsageEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/v1/recommendations", (string[]? name, HttpContext http, UsageSampler sampler) =>
            Results.Json(new RecommendationList(sampler.Recommend(InstanceEndpoints.Project(http), name ?? [])), StrataJsonContext.Default.RecommendationList))
            .WithTags("rightsizing").Produces<RecommendationList>()
            .WithSummary("Recommended CPU and memory limits, with their reasons, for the project's instances (?name=A&name=B for some; every sampled one by default).");

        var group = app.MapGroup("/v1/instances").WithTags("rightsizing");
        group.MapGet("/{name}/recommendation", (string name, HttpContext http, UsageSampler sampler) =>
            Results.Json(sampler.Recommend(InstanceEndpoints.Project(http), [name])[0], StrataJsonContext.Default.InstanceRecommendation))
            .Produces<InstanceRecommendation>().WithSummary("The recommended limits of one instance and why (percentiles, margin, confidence, forecast).");

        group.MapPost("/{name}/recommendation/apply", async (string name, HttpContext http, UsageSampler sampler) =>
            Results.Json(await sampler.ApplyAsync(InstanceEndpoints.Project(http), name, http.RequestAborted), StrataJsonContext.Default.ApplyRecommendationResponse))
            .Produces<ApplyRecommendationResponse>().WithSummary("Set a running instance's limits to its recommendation through live resize (tiers that can resize).");

        group.MapPut("/{name}/rightsize", async (string name, HttpContext http, InstanceService service, UsageSampler sampler) =>
        {
            var setting = await System.Text.Json.JsonSerializer.DeserializeAsync(http.Request.Body, StrataJsonContext.Default.RightsizeSetting, http.RequestAborted)
                ?? throw StrataException.Invalid("body", "expected a JSON object such as {\"mode\":\"auto\"}");
            var record = await service.SetRightsizeAsync(InstanceEndpoints.Project(http), name, setting.Mode, http.RequestAborted);
            return Results.Json(sampler.Status(record), StrataJsonContext.Default.RightsizeStatus);
        }).Accepts<RightsizeSetting>("application/json").Produces<RightsizeStatus>()
          .WithSummary("Set the instance's right-sizing mode (off, recommend, auto; null: its project's default). Operators.");

        group.MapGet("/{name}/usage", (string name, HttpContext http, UsageSampler sampler) =>
            Results.Json(sampler.History(InstanceEndpoints.Project(http), name), StrataJsonContext.Default.UsageHistoryView))
            .Produces<UsageHistoryView>().WithSummary("The instance's recent usage samples (the last hour at the sampling interval) and its limits.");
    }
}
