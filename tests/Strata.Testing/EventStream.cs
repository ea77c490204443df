using Strata.Contracts;

namespace Strata.Testing;

/// <summary>A <c>/v1/events</c> subscription read in the background: each event with its SSE id.</summary>
public sealed class EventStream
{
    private readonly List<(long Id, InstanceEvent Event)> _events = [];
    private Task _reader = Task.CompletedTask;

    public InstanceEvent? Last
    {
        get
        {
            lock (_events)
            {
                return _events.Count == 0 ? null : _events[^1].Event;
            }
        }
    }

    public static async Task<EventStream> OpenAsync(HttpClient http, CancellationToken ct)
    {
        var response = await http.SendAsync(new HttpRequestMessage(HttpMethod.Get, "v1/events"), HttpCompletionOption.ResponseHeadersRead, ct);
        response.EnsureSuccessStatusCode();
        var stream = new EventStream();
        stream._reader = stream.ReadAsync(response, ct);
        return stream;
    }

    private async Task ReadAsync(HttpResponseMessage response, CancellationToken ct)
    {
        using (response)
        {
            try
            {
                using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(ct));
                long id = 0;
                while (await reader.ReadLineAsync(ct) is { } line)
                {
                    if (line.StartsWith("id: ", StringComparison.Ordinal))
                    {
                        id = long.Parse(line[4..], System.Globalization.CultureInfo.InvariantCulture);
                    }
                    else if (line.StartsWith("data: ", StringComparison.Ordinal))
                    {
                        var e = System.Text.Json.JsonSerializer.Deserialize(line[6..], StrataJsonContext.Default.InstanceEvent)!;
                        lock (_events)
                        {
                            _events.Add((id, e));
                        }
                    }
                }
            }
            catch (Exception e) when (e is OperationCanceledException or IOException && ct.IsCancellationRequested)
            {
                // the test closed the stream
            }
        }
    }

    public async Task<List<(long Id, InstanceEvent Event)>> CloseAsync()
    {
        await _reader;
        lock (_events)
        {
            return [.. _events];
        }
    }
}
