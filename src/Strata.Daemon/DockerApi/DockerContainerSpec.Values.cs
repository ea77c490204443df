using System.Text.Json;
using Strata.Contracts;

namespace Strata.Daemon.DockerApi;

/// <summary>Reading the members of a Docker body: typed values with errors naming the field, and "unused" values.</summary>
internal sealed partial class DockerContainerSpec
{
    private static Dictionary<string, string>? Env(JsonElement v)
    {
        var list = Strings(v, "Env");
        if (list is null)
        {
            return null;
        }
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in list)
        {
            var eq = entry.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0)
            {
                env[entry[..eq]] = entry[(eq + 1)..];
            }
            else
            {
                env.Remove(entry); // "NAME" alone unsets it, as in Docker
            }
        }
        return env.Count > 0 ? env : null;
    }

    private static Dictionary<string, string>? Labels(JsonElement v)
    {
        if (v.ValueKind != JsonValueKind.Object)
        {
            return null;
        }
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var p in v.EnumerateObject())
        {
            labels[p.Name] = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.ToString();
        }
        return labels;
    }

    internal static string? String(JsonElement v, string field) => v.ValueKind switch
    {
        JsonValueKind.String => v.GetString(),
        JsonValueKind.Null or JsonValueKind.Undefined => null,
        _ => throw StrataException.Invalid(field, $"expected a string, got {v.ValueKind.ToString().ToLowerInvariant()}"),
    };

    internal static IReadOnlyList<string>? Strings(JsonElement v, string field) => v.ValueKind switch
    {
        JsonValueKind.Null or JsonValueKind.Undefined => null,
        JsonValueKind.String => [v.GetString()!],
        JsonValueKind.Array => [.. v.EnumerateArray().Select((e, i) => e.ValueKind == JsonValueKind.String ? e.GetString()!
            : throw StrataException.Invalid($"{field}[{i}]", "expected a string"))],
        _ => throw StrataException.Invalid(field, "expected a list of strings"),
    };

    private static long? Number(JsonElement v, string field) => v.ValueKind switch
    {
        JsonValueKind.Null or JsonValueKind.Undefined => null,
        JsonValueKind.Number when v.TryGetInt64(out var n) => n,
        _ => throw StrataException.Invalid(field, "expected an integer"),
    };

    private static long? Positive(JsonElement v, string field) => Number(v, field) is > 0 and var n ? n : null;

    private static long? LongMember(JsonElement o, string name) =>
        o.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var n) ? n : null;

    internal static string? NonEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;

    /// <summary>
    /// What a client sends for an option it does not use: null, false, 0, "", [] or a struct of such (members named
    /// like Docker's fields). A map (keys such as paths or names: <c>{"/run": ""}</c>) with any entry is a setting.
    /// </summary>
    internal static bool IsZero(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.Undefined or JsonValueKind.Null or JsonValueKind.False => true,
        JsonValueKind.Number => v.TryGetDouble(out var d) && d == 0,
        JsonValueKind.String => v.GetString()!.Length == 0,
        JsonValueKind.Array => v.GetArrayLength() == 0,
        JsonValueKind.Object => v.EnumerateObject().All(p => p.Name.Length > 0 && char.IsAsciiLetterUpper(p.Name[0]) && IsZero(p.Value)),
        _ => false,
    };

    internal static void RefuseUnlessZero(string field, JsonElement v, string? why = null)
    {
        if (!IsZero(v))
        {
            throw Unsupported(field, why ?? "this option is not supported by Strata; remove it");
        }
    }

    internal static StrataException Unsupported(string field, string why) => StrataException.Invalid(field, why);

    /// <summary>
    /// The swap rule of <c>docker create</c>/<c>run</c> and <c>docker update</c> alike: <c>MemorySwap</c>
    /// (<c>--memory-swap</c>) <paramref name="swap"/> of <paramref name="config"/> (a create's HostConfig, an update's
    /// body) may only be unset (zero or negative) or equal to the <c>Memory</c> beside it: Strata gives containers no swap
    /// beyond their memory limit.
    /// </summary>
    private static void RefuseSwapBeyondMemory(JsonElement config, JsonElement swap, string field)
    {
        if (Number(swap, field) is > 0 and var bytes && bytes != LongMember(config, "Memory"))
        {
            throw Unsupported(field, "Strata gives containers no swap beyond their memory limit; drop --memory-swap (or make it equal to --memory)");
        }
    }
}
