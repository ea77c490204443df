using System.Buffers;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Strata.Contracts;
using Strata.Store;

namespace Strata.Daemon.Api;

/// <summary>
/// Writes <c>GET /v1/instances</c> (an <see cref="InstanceList"/>) without serialising every instance on every request.
/// Records are immutable (a change is a new record), so each record's <see cref="InstanceInfo"/> JSON is serialised
/// once, on the first list that shows it, and kept beside the record for as long as the record lives: a list is then
/// the cached entries copied into the response between <c>{"items":[</c> and <c>]}</c>, with its length known up front.
/// The bytes are exactly those of serialising the whole list with <see cref="StrataJsonContext"/>.
/// </summary>
public sealed class InstanceListWriter
{
    private static readonly byte[] Prefix = "{\"items\":["u8.ToArray();
    private static readonly byte[] Suffix = "]}"u8.ToArray();
    private const int FlushEvery = 64 * 1024;

    private readonly ConditionalWeakTable<InstanceRecord, byte[]> _json = new();

    /// <summary>The JSON of one record's <see cref="InstanceInfo"/> (the API's shape), serialised at most once per record.</summary>
    public byte[] Json(InstanceRecord record) => _json.GetValue(record, static r =>
        JsonSerializer.SerializeToUtf8Bytes(InstanceEndpoints.ToInfo(r), StrataJsonContext.Default.InstanceInfo));

    public async Task WriteAsync(HttpResponse response, IReadOnlyList<InstanceRecord> records, CancellationToken cancellationToken)
    {
        var items = new byte[records.Count][];
        long length = Prefix.Length + Suffix.Length + Math.Max(0, records.Count - 1);
        for (var i = 0; i < items.Length; i++)
        {
            items[i] = Json(records[i]);
            length += items[i].Length;
        }
        response.ContentType = "application/json; charset=utf-8";
        response.ContentLength = length;
        var body = response.BodyWriter;
        body.Write(Prefix);
        var unflushed = 0;
        for (var i = 0; i < items.Length; i++)
        {
            if (i > 0)
            {
                body.Write(","u8);
            }
            body.Write(items[i]);
            unflushed += items[i].Length + 1;
            if (unflushed >= FlushEvery)
            {
                await body.FlushAsync(cancellationToken);
                unflushed = 0;
            }
        }
        body.Write(Suffix);
        await body.FlushAsync(cancellationToken);
    }
}
