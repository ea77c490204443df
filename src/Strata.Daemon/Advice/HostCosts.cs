using System.Text.Json;
using Strata.Contracts;
using Strata.Policy.Advisor;

namespace Strata.Daemon.Advice;

/// <summary>
/// Measured start latencies of this host, read from <c>&lt;root&gt;/bench/results.json</c>:
/// <code>{ "tiers": { "container": { "startMedianMs": 48.2, "detail": "crun" }, ... } }</code>
/// A missing file means "nothing measured yet" (the advisor then uses the documented classes). A file
/// that cannot be read is reported by <see cref="Load"/>'s <c>problem</c>, never fatal: advice must not
/// fail because a benchmark file is damaged.
/// </summary>
public static class HostCosts
{
    public const string RelativePath = "bench/results.json";

    public static IReadOnlyDictionary<Tier, TierCost> Load(string root, out string? problem)
    {
        problem = null;
        var path = Path.Combine(root, RelativePath);
        var costs = new Dictionary<Tier, TierCost>();
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return costs;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            problem = $"{RelativePath}: {e.Message}";
            return costs;
        }
        return Parse(text, out problem);
    }

    /// <summary>The costs in a results document's text; <paramref name="problem"/> says what was wrong with it, if anything.</summary>
    public static IReadOnlyDictionary<Tier, TierCost> Parse(string text, out string? problem)
    {
        problem = null;
        var costs = new Dictionary<Tier, TierCost>();
        try
        {
            using var document = JsonDocument.Parse(text);
            if (document.RootElement.ValueKind != JsonValueKind.Object || !document.RootElement.TryGetProperty("tiers", out var tiers) || tiers.ValueKind != JsonValueKind.Object)
            {
                problem = $"{RelativePath}: expected an object with a 'tiers' object";
                return costs;
            }
            foreach (var entry in tiers.EnumerateObject())
            {
                if (!TierNames.TryParse(entry.Name, out var tier) || tier == Tier.Fake
                    || entry.Value.ValueKind != JsonValueKind.Object
                    || !entry.Value.TryGetProperty("startMedianMs", out var median) || median.ValueKind != JsonValueKind.Number
                    || median.GetDouble() is not (> 0 and < 3_600_000))
                {
                    problem = $"{RelativePath}: tiers.{entry.Name}: expected a user tier with a positive 'startMedianMs' number";
                    continue;
                }
                var detail = entry.Value.TryGetProperty("detail", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString() : null;
                costs[tier] = TierCost.Measured(TimeSpan.FromMilliseconds(median.GetDouble()), detail);
            }
        }
        catch (JsonException e)
        {
            problem = $"{RelativePath}: not valid JSON ({e.Message})";
        }
        return costs;
    }
}
