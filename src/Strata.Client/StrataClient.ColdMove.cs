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

    /// <summary>
    /// Daemon to daemon, before a cold move stops anything: whether this project's volume <paramref name="volume"/> here
    /// can take the carried one (absent, or the same <paramref name="digest"/>); 409 naming the fix when not.
    /// </summary>
    public Task<VolumeArrival> CheckMoveVolumeAsync(string volume, string digest, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, Q($"v1/volumes/{N(volume)}/move-in", $"check=true&digest={N(digest)}"), null, StrataJsonContext.Default.VolumeArrival, ct);

    /// <summary>Daemon to daemon, a cold move carrying a managed volume: its packed files (<paramref name="archive"/>) and its Docker labels into this project's store.</summary>
    public async Task<VolumeArrival> MoveVolumeInAsync(string volume, string archive, string digest, IReadOnlyDictionary<string, string>? labels = null, CancellationToken ct = default)
    {
        var query = $"digest={N(digest)}";
        if (labels is { Count: > 0 })
        {
            query += "&labels=" + Uri.EscapeDataString(System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, string>(labels), StrataJsonContext.Default.DictionaryStringString));
        }
        using var body = File.OpenRead(archive);
        using var content = new StreamContent(body);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/x-tar");
        return await SendAsync(HttpMethod.Post, Q($"v1/volumes/{N(volume)}/move-in", query), content, StrataJsonContext.Default.VolumeArrival, ct).ConfigureAwait(false);
    }

    /// <summary>Daemon to daemon, the undo of <see cref="MoveVolumeInAsync"/>: removes the volume it created unless an instance mounts it.</summary>
    public async Task RemoveMovedVolumeAsync(string volume, CancellationToken ct = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Delete, Q($"v1/volumes/{N(volume)}/move-in"));
        using var response = await SendRawAsync(request, HttpCompletionOption.ResponseContentRead, ct).ConfigureAwait(false);
    }
}
