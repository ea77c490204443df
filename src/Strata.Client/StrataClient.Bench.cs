using System.Net.Http.Headers;
using System.Text;

namespace Strata.Client;

public sealed partial class StrataClient
{
    /// <summary>Stores a <c>strata bench</c> report (JSON) as this host's measured numbers (<c>PUT /v1/bench/results</c>).</summary>
    public async Task SaveBenchResultsAsync(string json, CancellationToken ct = default)
    {
        var content = new StringContent(json, Encoding.UTF8);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var request = new HttpRequestMessage(HttpMethod.Put, "v1/bench/results") { Content = content };
        using var response = await SendRawAsync(request, HttpCompletionOption.ResponseContentRead, ct).ConfigureAwait(false);
    }

    /// <summary>The last stored bench report (JSON text); a 404 (<see cref="Contracts.ErrorKind.NotFound"/>) when none was stored.</summary>
    public async Task<string> GetBenchResultsAsync(CancellationToken ct = default)
    {
        using var response = await SendRawAsync(new HttpRequestMessage(HttpMethod.Get, "v1/bench/results"), HttpCompletionOption.ResponseContentRead, ct).ConfigureAwait(false);
        return await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
    }

    /// <summary>
    /// A GET's body copied as bytes into <paramref name="destination"/>, unparsed; returns its length. Benchmarks use it
    /// to time the API's answer apart from the client's JSON parsing.
    /// </summary>
    public async Task<long> CopyRawAsync(string path, Stream destination, CancellationToken ct = default)
    {
        using var response = await SendRawAsync(new HttpRequestMessage(HttpMethod.Get, Q(path)), HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        var start = destination.CanSeek ? destination.Position : 0;
        await response.Content.CopyToAsync(destination, ct).ConfigureAwait(false);
        return destination.CanSeek ? destination.Position - start : -1;
    }
}
