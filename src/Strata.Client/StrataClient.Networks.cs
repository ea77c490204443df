using Strata.Contracts;

namespace Strata.Client;

/// <summary>Networks (<c>/v1/networks</c>).</summary>
public sealed partial class StrataClient
{
    public Task<NetworkList> ListNetworksAsync(CancellationToken ct = default) =>
        GetAsync(Q("v1/networks"), StrataJsonContext.Default.NetworkList, ct);

    public Task<NetworkInfo> InspectNetworkAsync(string name, CancellationToken ct = default) =>
        GetAsync(Q($"v1/networks/{N(name)}"), StrataJsonContext.Default.NetworkInfo, ct);

    public Task<NetworkInfo> CreateNetworkAsync(CreateNetworkRequest request, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, Q("v1/networks"), JsonBody(request, StrataJsonContext.Default.CreateNetworkRequest), StrataJsonContext.Default.NetworkInfo, ct);

    /// <summary>Refused (409) while instances are attached.</summary>
    public async Task RemoveNetworkAsync(string name, CancellationToken ct = default)
    {
        using var response = await SendRawAsync(new HttpRequestMessage(HttpMethod.Delete, Q($"v1/networks/{N(name)}")), HttpCompletionOption.ResponseContentRead, ct).ConfigureAwait(false);
    }

    /// <summary>Joins the instance to another network of its project (container tier).</summary>
    public Task<InstanceInfo> ConnectNetworkAsync(string instance, ConnectNetworkRequest request, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, Q($"v1/instances/{N(instance)}/networks"), JsonBody(request, StrataJsonContext.Default.ConnectNetworkRequest), StrataJsonContext.Default.InstanceInfo, ct);

    /// <summary>Leaves a network joined with <see cref="ConnectNetworkAsync"/>.</summary>
    public Task<InstanceInfo> DisconnectNetworkAsync(string instance, string network, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Delete, Q($"v1/instances/{N(instance)}/networks/{N(network)}"), null, StrataJsonContext.Default.InstanceInfo, ct);
}
