using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Strata.Contracts;
using Strata.Control;
using Strata.Control.Projects;
using Strata.Store;

namespace Strata.Daemon.Api;

/// <summary>
/// <c>/v1/projects</c>: projects, their quotas, restrictions and tokens. Host administrators see and change
/// every project; a project token sees only its own project (any other is "not found", like a missing one),
/// and only its <c>admin</c> role manages the project's tokens. Who may call what is in <see cref="Permissions"/>.
/// </summary>
public static class ProjectEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/projects").WithTags("projects");

        group.MapGet("/", async (HttpContext http, ProjectService projects, InstanceService instances) =>
        {
            var caller = Caller.Of(http);
            var items = new List<ProjectInfo>();
            foreach (var p in projects.List().Where(p => caller.IsHostAdmin || p.Name == caller.Project))
            {
                items.Add(await ToInfoAsync(http, p, instances));
            }
            return Results.Json(new ProjectList(items), StrataJsonContext.Default.ProjectList);
        }).Produces<ProjectList>().WithSummary("List projects with their usage (a project token sees its own only).");

        group.MapPost("/", async (HttpContext http, ProjectService projects, InstanceService instances) =>
        {
            var request = await ReadAsync(http, StrataJsonContext.Default.CreateProjectRequest);
            var created = await projects.CreateAsync(request, http.RequestAborted);
            return Results.Json(await ToInfoAsync(http, created, instances), StrataJsonContext.Default.ProjectInfo, statusCode: StatusCodes.Status201Created);
        }).Accepts<CreateProjectRequest>("application/json").Produces<ProjectInfo>(StatusCodes.Status201Created)
          .WithSummary("Create a project (host administrators). Omitted restrictions are the restrictive defaults: no process tier, host network, host mounts, devices or added capabilities.");

        group.MapGet("/{name}", async (string name, HttpContext http, ProjectService projects, InstanceService instances) =>
            Results.Json(await ToInfoAsync(http, Visible(http, projects, name), instances), StrataJsonContext.Default.ProjectInfo))
            .Produces<ProjectInfo>().WithSummary("A project's quota, restrictions and current usage.");

        group.MapDelete("/{name}", async (string name, HttpContext http, ProjectService projects, InstanceService instances) =>
        {
            await projects.DeleteAsync(name, () => instances.List(name).Count == 0, http.RequestAborted);
            return Results.NoContent();
        }).WithSummary("Remove an empty project and its tokens (host administrators). 409 while it has instances.");

        group.MapPut("/{name}/quota", async (string name, HttpContext http, ProjectService projects, InstanceService instances) =>
        {
            var quota = await ReadAsync(http, StrataJsonContext.Default.ProjectQuota);
            return Results.Json(await ToInfoAsync(http, await projects.SetQuotaAsync(name, quota, http.RequestAborted), instances), StrataJsonContext.Default.ProjectInfo);
        }).Accepts<ProjectQuota>("application/json").Produces<ProjectInfo>()
          .WithSummary("Replace the project's quota (host administrators). Lowering it below the usage refuses new creates; nothing running is stopped.");

        group.MapPut("/{name}/restrictions", async (string name, HttpContext http, ProjectService projects, InstanceService instances) =>
        {
            var restrictions = await ReadAsync(http, StrataJsonContext.Default.ProjectRestrictions);
            return Results.Json(await ToInfoAsync(http, await projects.SetRestrictionsAsync(name, restrictions, http.RequestAborted), instances), StrataJsonContext.Default.ProjectInfo);
        }).Accepts<ProjectRestrictions>("application/json").Produces<ProjectInfo>()
          .WithSummary("Replace the project's restrictions (host administrators). They apply to new creates.");

        group.MapPut("/{name}/rightsize", async (string name, HttpContext http, ProjectService projects, InstanceService instances) =>
        {
            Visible(http, projects, name);
            var setting = await ReadAsync(http, StrataJsonContext.Default.RightsizeSetting);
            return Results.Json(await ToInfoAsync(http, await projects.SetRightsizeAsync(name, setting.Mode, http.RequestAborted), instances), StrataJsonContext.Default.ProjectInfo);
        }).Accepts<RightsizeSetting>("application/json").Produces<ProjectInfo>()
          .WithSummary("Set the right-sizing mode the project's instances follow unless they set their own (off, recommend, auto; null: recommend). Host administrators and the project's admins.");

        group.MapPost("/{name}/tokens", async (string name, HttpContext http, ProjectService projects) =>
        {
            Visible(http, projects, name);
            var request = await ReadAsync(http, StrataJsonContext.Default.CreateTokenRequest);
            var (record, token) = await projects.CreateTokenAsync(name, request.Role, request.Description, http.RequestAborted);
            http.Response.Headers.CacheControl = "no-store";
            return Results.Json(ToInfo(record) with { Token = token }, StrataJsonContext.Default.TokenInfo, statusCode: StatusCodes.Status201Created);
        }).Accepts<CreateTokenRequest>("application/json").Produces<TokenInfo>(StatusCodes.Status201Created)
          .WithSummary("Create a token of the project with a role; the secret is in this answer only (the daemon keeps its SHA-256).");

        group.MapGet("/{name}/tokens", (string name, HttpContext http, ProjectService projects) =>
        {
            Visible(http, projects, name);
            return Results.Json(new TokenList([.. projects.ListTokens(name).Select(ToInfo)]), StrataJsonContext.Default.TokenList);
        }).Produces<TokenList>().WithSummary("The project's tokens: ids, roles, descriptions (never the secrets).");

        group.MapDelete("/{name}/tokens/{id}", async (string name, string id, HttpContext http, ProjectService projects) =>
        {
            Visible(http, projects, name);
            await projects.RevokeTokenAsync(name, id, http.RequestAborted);
            return Results.NoContent();
        }).WithSummary("Revoke a token: the next request with it is refused.");
    }

    /// <summary>The project if the caller may see it; otherwise "not found", exactly as for a missing project.</summary>
    private static ProjectRecord Visible(HttpContext http, ProjectService projects, string name)
    {
        var caller = Caller.Of(http);
        if (!caller.IsHostAdmin && caller.Project != name)
        {
            throw ProjectService.NoProject(name);
        }
        return projects.Get(name);
    }

    /// <summary>The project with its usage: this host's instances, or in a cluster the usage etcd counts for every node.</summary>
    private static async Task<ProjectInfo> ToInfoAsync(HttpContext http, ProjectRecord p, InstanceService instances) => new()
    {
        Name = p.Name,
        Description = p.Description,
        CreatedAt = p.CreatedAt,
        Quota = p.Quota,
        Restrictions = p.Restrictions,
        Rightsize = p.Rightsize ?? RightsizeModes.Default,
        Usage = http.RequestServices.GetService<Cluster.ClusterNode>() is { } cluster
            ? (await cluster.Instances.UsageAsync(p.Name, http.RequestAborted).ConfigureAwait(false)).Usage
            : instances.Usage(p.Name),
    };

    private static TokenInfo ToInfo(TokenRecord t) => new()
    {
        Id = t.Id,
        Project = t.Project,
        Role = t.Role,
        Description = t.Description,
        CreatedAt = t.CreatedAt,
    };

    private static async Task<T> ReadAsync<T>(HttpContext http, JsonTypeInfo<T> type)
    {
        if (http.Request.ContentType is { } contentType && !contentType.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            throw new StrataException(ErrorKind.InvalidArgument, $"expected a JSON body (Content-Type: application/json), got '{contentType}'");
        }
        return await JsonSerializer.DeserializeAsync(http.Request.Body, type, http.RequestAborted)
            ?? throw new StrataException(ErrorKind.InvalidArgument, "body: expected a JSON object");
    }
}
