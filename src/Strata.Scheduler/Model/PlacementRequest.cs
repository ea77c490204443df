namespace Strata.Scheduler;

/// <summary>
/// One instance to place. The tier is already chosen (by the advisor or the user); the scheduler only picks the node.
/// </summary>
public sealed record PlacementRequest
{
    /// <summary>The instance's name: recorded in plans and in the node's instances once placed.</summary>
    public string Name { get; init; } = "";
    public required string Tier { get; init; }
    public Resources Resources { get; init; }
    /// <summary>
    /// What the instance is predicted to use (its recommendation, when it already has a usage history: a move, a
    /// rebalance, a re-creation); null scores it at <see cref="Resources"/>. The capacity filter always checks
    /// <see cref="Resources"/>.
    /// </summary>
    public Resources? Predicted { get; init; }
    public string Project { get; init; } = "default";
    /// <summary>The project's placement restrictions; null when the project has none.</summary>
    public ProjectPlacementRules? ProjectRules { get; init; }
    /// <summary><c>--node NAME</c>: only this node may take the instance.</summary>
    public string? Node { get; init; }
    /// <summary>The architecture the image needs; null runs anywhere.</summary>
    public string? Arch { get; init; }
    /// <summary><c>--constraint label=value</c> / <c>label!=value</c>, all of which must hold.</summary>
    public IReadOnlyList<LabelConstraint> Constraints { get; init; } = [];
    public AntiAffinity? AntiAffinity { get; init; }
}

/// <summary>
/// Keep instances of one group (within the same project) apart: <see cref="Hard"/> forbids a node that already runs
/// one; soft only lowers that node's score.
/// </summary>
public sealed record AntiAffinity(string Group, bool Hard = true);

/// <summary>Where a project may run, set by the operator on the project. Null lists allow everything.</summary>
public sealed record ProjectPlacementRules
{
    public IReadOnlyList<string>? AllowedTiers { get; init; }
    public IReadOnlyList<string>? AllowedNodes { get; init; }
}

/// <summary>A <c>label=value</c> or <c>label!=value</c> condition on a node's labels. A missing label never equals.</summary>
public readonly record struct LabelConstraint(string Label, string Value, bool Negated = false)
{
    /// <summary><c>label=value</c> or <c>label!=value</c>, made once (rejections are counted by it).</summary>
    public string Text { get; } = Label + (Negated ? "!=" : "=") + Value;

    /// <summary>Parses <c>label=value</c> or <c>label!=value</c>; throws a FormatException saying what is expected.</summary>
    public static LabelConstraint Parse(string text)
    {
        var negated = text.Contains("!=", StringComparison.Ordinal);
        var at = negated ? text.IndexOf("!=", StringComparison.Ordinal) : text.IndexOf('=', StringComparison.Ordinal);
        if (at <= 0 || at == text.Length - (negated ? 2 : 1))
        {
            throw new FormatException($"constraint '{text}' is not label=value or label!=value (e.g. --constraint disk=ssd)");
        }
        var label = text[..at].Trim();
        var value = text[(at + (negated ? 2 : 1))..].Trim();
        if (label.Length == 0 || value.Length == 0)
        {
            throw new FormatException($"constraint '{text}' is not label=value or label!=value (e.g. --constraint disk=ssd)");
        }
        return new LabelConstraint(label, value, negated);
    }

    public bool HoldsOn(IReadOnlyDictionary<string, string> labels) =>
        labels.TryGetValue(Label, out var actual) && actual == Value ? !Negated : Negated;

    public override string ToString() => Text;
}
