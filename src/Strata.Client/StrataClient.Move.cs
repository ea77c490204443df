using Strata.Contracts;

namespace Strata.Client;

public sealed partial class StrataClient
{
    /// <summary>Starts a move and returns its operation at once; watch it with <see cref="WatchOperationAsync"/>, cancel it with <see cref="CancelOperationAsync"/>.</summary>
    public Task<OperationInfo> MoveAsync(string name, MoveRequest request, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, Q($"v1/instances/{N(name)}/move"), JsonBody(request, StrataJsonContext.Default.MoveRequest), StrataJsonContext.Default.OperationInfo, ct);

    /// <summary>Daemon to daemon: prepares the receiving side of a live move on this (the target) daemon.</summary>
    public Task<IncomingMoveInfo> PrepareIncomingMoveAsync(string name, IncomingMoveRequest request, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, Q($"v1/instances/{N(name)}/incoming"), JsonBody(request, StrataJsonContext.Default.IncomingMoveRequest),
            StrataJsonContext.Default.IncomingMoveInfo, ct);

    /// <summary>Daemon to daemon: the source completed; the target waits until the guest runs and takes the instance over.</summary>
    public Task<InstanceInfo> ConfirmIncomingMoveAsync(string name, TimeSpan timeout, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, Q($"v1/instances/{N(name)}/incoming/confirm", $"timeout={(int)Math.Ceiling(timeout.TotalSeconds)}"), null,
            StrataJsonContext.Default.InstanceInfo, ct);

    /// <summary>Daemon to daemon: removes a receiving side that was not confirmed (nothing to remove is not an error).</summary>
    public async Task DiscardIncomingMoveAsync(string name, CancellationToken ct = default)
    {
        using var response = await SendRawAsync(new HttpRequestMessage(HttpMethod.Delete, Q($"v1/instances/{N(name)}/incoming")),
            HttpCompletionOption.ResponseContentRead, ct).ConfigureAwait(false);
    }
}
