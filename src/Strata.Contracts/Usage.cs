namespace Strata.Contracts;

/// <summary>CPU and memory limits (cores; bytes).</summary>
public sealed record ResourcePair(double CpuCores, long MemoryBytes);

/// <summary>Slack of CPU and memory as fractions of the limit (0.25 = a quarter unused).</summary>
public sealed record SlackPair(double Cpu, double Memory);

/// <summary>A recommended value for one resource, with the range the history supports.</summary>
public sealed record RecommendedRange(double Target, double Lower, double Upper);

/// <summary>
/// What right-sizing recommends for one instance and why (<c>GET /v1/recommendations</c>, <c>strata recommend</c>):
/// current limits, the recommended limits with their bounds, the numbers behind them (percentiles, margin,
/// confidence) and the sentences that quote them. docs/rightsizing.md explains every field.
/// </summary>
public sealed record InstanceRecommendation
{
    public required string Name { get; init; }
    public required string Project { get; init; }
    public required string Tier { get; init; }
    /// <summary>The instance's state, or <c>removed</c> for a history kept after the instance went.</summary>
    public required string State { get; init; }
    public required ResourcePair Current { get; init; }
    /// <summary>CPU in cores.</summary>
    public required RecommendedRange Cpu { get; init; }
    /// <summary>Memory in bytes.</summary>
    public required RecommendedRange Memory { get; init; }
    /// <summary>
    /// The limits <c>--apply</c> (and <c>auto</c>) would set: the targets clamped to what the tier's resize takes,
    /// memory rounded up to a MiB, CPUs in whole vCPUs (docs/rightsizing.md, "Clamped to the tier").
    /// </summary>
    public required ResourcePair Recommended { get; init; }
    /// <summary>Why <see cref="Recommended"/> differs from the targets, one sentence per rule that clamped it (empty: it does not).</summary>
    public IReadOnlyList<string> Clamped { get; init; } = [];
    /// <summary>(limit − recent mean use) / limit with today's limits and with the targets, as fractions.</summary>
    public required SlackPair SlackToday { get; init; }
    public required SlackPair SlackAfter { get; init; }
    public required long Samples { get; init; }
    public required double HistoryHours { get; init; }
    public required long OomKills { get; init; }
    /// <summary><c>low</c> (under a day of history), <c>medium</c> (under a week) or <c>high</c>.</summary>
    public required string Confidence { get; init; }
    /// <summary>Days of history the confidence counts (the span, but no more than samples × interval).</summary>
    public required double ConfidenceDays { get; init; }
    public required double UpperFactor { get; init; }
    public required double LowerFactor { get; init; }
    public required double Margin { get; init; }
    public required double CpuP50 { get; init; }
    public required double CpuP90 { get; init; }
    public required double CpuP95 { get; init; }
    public required double MemoryP50 { get; init; }
    public required double MemoryP90 { get; init; }
    public required double MemoryP95 { get; init; }
    public required double ObservedMemoryPeak { get; init; }
    /// <summary><c>none</c>, <c>holt</c> (double exponential smoothing) or <c>holt-winters</c>.</summary>
    public required string Forecast { get; init; }
    public required double ForecastMemoryPeak { get; init; }
    /// <summary>The sentences that explain the recommendation, each quoting its numbers.</summary>
    public required IReadOnlyList<string> Reasons { get; init; }
}

public sealed record RecommendationList(IReadOnlyList<InstanceRecommendation> Recommendations);

/// <summary>One sample of an instance's usage: CPU in cores over the interval before it, memory in bytes.</summary>
public sealed record UsagePoint(DateTimeOffset Time, double CpuCores, long MemoryBytes);

/// <summary>
/// The recent samples of one instance (<c>GET /v1/instances/{name}/usage</c>, <c>strata stats NAME --history</c>): the
/// last hour at the sampling interval, held in memory (the long history lives in the recommendation's histograms).
/// </summary>
public sealed record UsageHistoryView
{
    public required string Name { get; init; }
    public required double IntervalSeconds { get; init; }
    public required ResourcePair Limits { get; init; }
    public required IReadOnlyList<UsagePoint> Points { get; init; }
}

/// <summary>Result of <c>POST /v1/instances/{name}/recommendation/apply</c>: the limits before and after, and why.</summary>
public sealed record ApplyRecommendationResponse(string Name, ResourcePair Before, ResourcePair After, string Reason);

/// <summary>
/// An instance's right-sizing as <c>inspect</c> shows it: the mode in force (<c>off</c>, <c>recommend</c>, <c>auto</c>)
/// and whether it is the instance's own or its project's default; the policy's last evaluation; the last change it
/// made, with its reason.
/// </summary>
public sealed record RightsizeStatus
{
    public required string Mode { get; init; }
    /// <summary><c>instance</c> (its own setting) or <c>project</c> (the project's default).</summary>
    public required string Source { get; init; }
    /// <summary>The policy's last decision: its reason (<c>hysteresis</c>, <c>within-threshold</c>, <c>cooldown</c>, …) and sentence.</summary>
    public string? LastDecision { get; init; }
    public string? LastDecisionExplanation { get; init; }
    public DateTimeOffset? LastChange { get; init; }
    /// <summary><c>resized</c> or <c>oom-bump</c>.</summary>
    public string? LastChangeReason { get; init; }
    public string? LastChangeExplanation { get; init; }
}

/// <summary>Body of <c>PUT /v1/instances/{name}/rightsize</c> and <c>PUT /v1/projects/{name}/rightsize</c>: a mode, or null for the default.</summary>
public sealed record RightsizeSetting
{
    /// <summary><c>off</c>, <c>recommend</c> or <c>auto</c>; null: the instance follows its project's default (a project's default becomes <c>recommend</c>).</summary>
    public string? Mode { get; init; }
}

/// <summary>The names of the right-sizing modes, validated in one place.</summary>
public static class RightsizeModes
{
    public const string Off = "off";
    public const string Recommend = "recommend";
    public const string Auto = "auto";

    /// <summary>What a project's instances follow when neither they nor the project say.</summary>
    public const string Default = Recommend;

    /// <summary>Throws 400 naming <paramref name="field"/> for anything but off, recommend or auto.</summary>
    public static string Validate(string mode, string field) => mode is Off or Recommend or Auto ? mode
        : throw StrataException.Invalid(field, $"'{mode}' is not a right-sizing mode; use off, recommend or auto");
}
