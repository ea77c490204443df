using System.Net.Http.Headers;
using System.Text;

namespace Strata.Client;

/// <summary>
/// Cluster mode (<c>/v1/cluster</c>, docs/cluster.md): status and nodes, as the daemon's JSON (the CLI reads it
/// with <see cref="System.Text.Json.JsonDocument"/>; its shape is documented there).
/// </summary>
public sealed partial class StrataClient
{
    public Task<string> ClusterStatusJsonAsync(CancellationToken ct = default) => GetTextAsync("v1/cluster", ct);

    public Task<string> NodesJsonAsync(CancellationToken ct = default) => GetTextAsync("v1/cluster/nodes", ct);

    public Task<string> NodeJsonAsync(string node, CancellationToken ct = default) => GetTextAsync("v1/cluster/nodes/" + Uri.EscapeDataString(node), ct);

    /// <summary>
    /// <c>POST /v1/cluster/nodes/{node}/drain?parallel=N</c>: flag it and move its instances off, as an operation (one
    /// item per instance; the result lists what moved, failed and cannot move). Cancel it with <see cref="CancelOperationAsync"/>.
    /// </summary>
    public Task<Contracts.OperationInfo> DrainNodeAsync(string node, int parallel = 2, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, "v1/cluster/nodes/" + Uri.EscapeDataString(node) + "/drain?parallel=" + parallel.ToString(System.Globalization.CultureInfo.InvariantCulture),
            null, Contracts.StrataJsonContext.Default.OperationInfo, ct);

    /// <summary><paramref name="action"/>: <c>undrain</c> or <c>labels</c> (with <paramref name="json"/> = <c>{"labels":{…}}</c>); the node as JSON.</summary>
    public async Task<string> ChangeNodeJsonAsync(string node, string action, string? json = null, CancellationToken ct = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/cluster/nodes/" + Uri.EscapeDataString(node) + "/" + action);
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        }
        using var response = await SendRawAsync(request, HttpCompletionOption.ResponseContentRead, ct).ConfigureAwait(false);
        return await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Where the cluster would place <paramref name="spec"/> now and why, without creating anything.</summary>
    public Task<Contracts.InstanceInfo> DryRunAsync(Contracts.InstanceSpec spec, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, "v1/instances?dryRun=true", Json(new Contracts.CreateInstanceRequest { Spec = spec }), Contracts.StrataJsonContext.Default.InstanceInfo, ct);
}
