using Strata.Contracts;

namespace Strata.Client;

public sealed partial class StrataClient
{
    /// <summary>
    /// Daemon to daemon, the switch of a cold move: the instance the source created here (not started) takes the
    /// captured state (<paramref name="stateArchive"/>, a tar of the capture directory, or null) and starts from it
    /// (<paramref name="start"/>) or keeps it in place.
    /// </summary>
    public async Task<InstanceInfo> MoveInAsync(string name, string? stateArchive, bool start, CancellationToken ct = default)
    {
        using var body = stateArchive is null ? null : File.OpenRead(stateArchive);
        using var content = body is null ? null : new StreamContent(body);
        content?.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/x-tar");
        return await SendAsync(HttpMethod.Post, Q($"v1/instances/{N(name)}/move-in", $"start={(start ? "true" : "false")}&state={(body is null ? "false" : "true")}"),
            content, StrataJsonContext.Default.InstanceInfo, ct).ConfigureAwait(false);
    }
}
