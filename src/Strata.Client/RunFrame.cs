using System.Text.Json;
using Strata.Contracts;

namespace Strata.Client;

/// <summary>
/// One frame of an attached run (<see cref="StrataClient.RunOutputAsync"/>): exactly one of the instance's
/// <see cref="InstanceName"/> (the first frame), a <see cref="Log"/> record, or the <see cref="Exit"/>.
/// </summary>
public sealed record RunFrame(string? InstanceName, LogRecord? Log, WaitResult? Exit)
{
    /// <summary>Decodes one line of the stream; null for a frame of a kind this client does not know.</summary>
    public static RunFrame? Parse(ReadOnlySpan<byte> line)
    {
        var reader = new Utf8JsonReader(line);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            throw new JsonException("a stream frame is not a JSON object");
        }
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("log"u8))
            {
                reader.Read();
                return new RunFrame(null, JsonSerializer.Deserialize(ref reader, StrataJsonContext.Default.LogRecord), null);
            }
            if (reader.ValueTextEquals("exit"u8))
            {
                reader.Read();
                return new RunFrame(null, null, JsonSerializer.Deserialize(ref reader, StrataJsonContext.Default.WaitResult));
            }
            if (reader.ValueTextEquals("instance"u8))
            {
                reader.Read();
                return new RunFrame(InstanceNameOf(ref reader), null, null);
            }
            reader.Read();
            reader.Skip();
        }
        return null;
    }

    /// <summary>The <c>name</c> member of the instance object the reader is on; its other members are skipped.</summary>
    private static string InstanceNameOf(ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw new JsonException("the instance frame does not hold an object");
        }
        string? name = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isName = reader.ValueTextEquals("name"u8);
            reader.Read();
            if (isName && reader.TokenType == JsonTokenType.String)
            {
                name = reader.GetString();
            }
            else
            {
                reader.Skip();
            }
        }
        return name ?? throw new JsonException("the instance frame has no name");
    }
}
