using System.Text.Json;
using Strata.Contracts;

namespace Strata.Daemon.DockerApi;

/// <summary>
/// The <c>filters</c> query parameter: a JSON object of NAME → values (a list, or the older object of value → true).
/// A thing matches when, for every filter name given, one of its values matches.
/// </summary>
internal sealed class DockerFilters
{
    private readonly Dictionary<string, List<string>> _filters;

    private DockerFilters(Dictionary<string, List<string>> filters) => _filters = filters;

    public static DockerFilters Parse(string? text)
    {
        var filters = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        if (string.IsNullOrWhiteSpace(text))
        {
            return new DockerFilters(filters);
        }
        try
        {
            using var doc = JsonDocument.Parse(text);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw StrataException.Invalid("filters", "expected a JSON object such as {\"label\":[\"a=b\"]}");
            }
            foreach (var f in doc.RootElement.EnumerateObject())
            {
                filters[f.Name] = f.Value.ValueKind switch
                {
                    JsonValueKind.Array => [.. f.Value.EnumerateArray().Select(v => v.GetString() ?? "")],
                    JsonValueKind.Object => [.. f.Value.EnumerateObject().Where(v => v.Value.ValueKind == JsonValueKind.True).Select(v => v.Name)],
                    _ => throw StrataException.Invalid($"filters.{f.Name}", "expected a list of strings"),
                };
            }
        }
        catch (JsonException e)
        {
            throw StrataException.Invalid("filters", $"malformed JSON: {e.Message}");
        }
        return new DockerFilters(filters);
    }

    public bool Has(string name) => _filters.ContainsKey(name);

    public bool Matches(string name, Func<string, bool> match) => !_filters.TryGetValue(name, out var values) || values.Any(match);

    /// <summary>Every value must match (Docker's rule for <c>label</c>: each label filter narrows the result).</summary>
    public bool MatchesAll(string name, Func<string, bool> match) => !_filters.TryGetValue(name, out var values) || values.All(match);

    public void Only(params string[] supported)
    {
        foreach (var name in _filters.Keys)
        {
            if (!supported.Contains(name))
            {
                throw StrataException.Invalid($"filters.{name}", $"invalid filter '{name}'; Strata filters by {string.Join(", ", supported)}");
            }
        }
    }

    /// <summary><c>KEY</c> (present) or <c>KEY=VALUE</c> against a thing's labels.</summary>
    public static bool LabelMatches(IReadOnlyDictionary<string, string>? labels, string filter)
    {
        var eq = filter.IndexOf('=', StringComparison.Ordinal);
        return labels is not null && (eq < 0
            ? labels.ContainsKey(filter)
            : labels.TryGetValue(filter[..eq], out var v) && v == filter[(eq + 1)..]);
    }
}
