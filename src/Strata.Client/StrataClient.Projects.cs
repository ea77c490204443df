using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Strata.Contracts;

namespace Strata.Client;

public sealed partial class StrataClient
{
    public Task<ProjectList> ListProjectsAsync(CancellationToken ct = default) =>
        GetAsync("v1/projects", StrataJsonContext.Default.ProjectList, ct);

    public Task<ProjectInfo> GetProjectAsync(string name, CancellationToken ct = default) =>
        GetAsync($"v1/projects/{N(name)}", StrataJsonContext.Default.ProjectInfo, ct);

    public Task<ProjectInfo> CreateProjectAsync(CreateProjectRequest request, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, "v1/projects", Body(request, StrataJsonContext.Default.CreateProjectRequest), StrataJsonContext.Default.ProjectInfo, ct);

    public async Task DeleteProjectAsync(string name, CancellationToken ct = default)
    {
        using var response = await SendRawAsync(new HttpRequestMessage(HttpMethod.Delete, $"v1/projects/{N(name)}"), HttpCompletionOption.ResponseContentRead, ct).ConfigureAwait(false);
    }

    public Task<ProjectInfo> SetQuotaAsync(string name, ProjectQuota quota, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Put, $"v1/projects/{N(name)}/quota", Body(quota, StrataJsonContext.Default.ProjectQuota), StrataJsonContext.Default.ProjectInfo, ct);

    public Task<ProjectInfo> SetRestrictionsAsync(string name, ProjectRestrictions restrictions, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Put, $"v1/projects/{N(name)}/restrictions", Body(restrictions, StrataJsonContext.Default.ProjectRestrictions), StrataJsonContext.Default.ProjectInfo, ct);

    /// <summary>Creates a token; <see cref="TokenInfo.Token"/> holds the secret, which is never shown again.</summary>
    public Task<TokenInfo> CreateTokenAsync(string project, string role, string? description = null, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, $"v1/projects/{N(project)}/tokens", Body(new CreateTokenRequest { Role = role, Description = description }, StrataJsonContext.Default.CreateTokenRequest), StrataJsonContext.Default.TokenInfo, ct);

    public Task<TokenList> ListTokensAsync(string project, CancellationToken ct = default) =>
        GetAsync($"v1/projects/{N(project)}/tokens", StrataJsonContext.Default.TokenList, ct);

    public async Task RevokeTokenAsync(string project, string id, CancellationToken ct = default)
    {
        using var response = await SendRawAsync(new HttpRequestMessage(HttpMethod.Delete, $"v1/projects/{N(project)}/tokens/{N(id)}"), HttpCompletionOption.ResponseContentRead, ct).ConfigureAwait(false);
    }

    private static ByteArrayContent Body<T>(T value, JsonTypeInfo<T> type)
    {
        var content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(value, type));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return content;
    }
}
