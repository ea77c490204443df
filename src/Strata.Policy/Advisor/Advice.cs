using Strata.Contracts;

namespace Strata.Policy.Advisor;

/// <summary>The advisor's answer: the tier, why, what else was possible, and what was given up here.</summary>
public sealed record Advice
{
    public required Tier Chosen { get; init; }

    /// <summary>Every rule that fired, in the order of the rules table, then the step that picked <see cref="Chosen"/>.</summary>
    public required IReadOnlyList<AdviceReason> Reasons { get; init; }

    /// <summary>The other user tiers: the ones that would also work first, then the ruled-out ones, each with why not and its cost here.</summary>
    public required IReadOnlyList<RunnerUp> RunnersUp { get; init; }

    /// <summary>Set when the ideal tier is not available on this host and a stronger one was taken.</summary>
    public Fallback? Fallback { get; init; }

    /// <summary>Give the workload pinned CPUs (dedicated hardware on the vm tier).</summary>
    public bool PinCpus { get; init; }

    /// <summary>What starting on <see cref="Chosen"/> costs here.</summary>
    public required TierCost Cost { get; init; }

    /// <summary>A plain-text rendering for the CLI and <c>inspect</c>.</summary>
    public string Describe()
    {
        var lines = new List<string> { $"tier: {Chosen.ToName()}{(PinCpus ? " (pinned CPUs)" : "")}   start: {Cost}" };
        lines.Add("why:");
        lines.AddRange(Reasons.Select(r => $"  [{r.RuleId}] {r.Text}"));
        if (Fallback is { } fallback)
        {
            lines.Add($"fallback: {fallback.Ideal.ToName()} → {fallback.Taken.ToName()}: {fallback.Why}");
        }
        if (RunnersUp.Count > 0)
        {
            lines.Add("runners-up:");
            lines.AddRange(RunnersUp.Select(r => $"  {r.Tier.ToName(),-9} {(r.Viable ? "possible" : "ruled out"),-9} {r.Cost}: {r.WhyNot}"));
        }
        return string.Join('\n', lines);
    }
}

/// <summary>One reason, tied to the rule (or step) that produced it.</summary>
public sealed record AdviceReason(string RuleId, string Text);

/// <summary>A tier that was not chosen.</summary>
/// <param name="Viable">True when it satisfies everything and is available, but is heavier than the chosen tier.</param>
public sealed record RunnerUp(Tier Tier, bool Viable, string WhyNot, TierCost Cost);

/// <summary>The ideal tier was not available here; <paramref name="Taken"/> was used instead.</summary>
public sealed record Fallback(Tier Ideal, Tier Taken, string Why);

/// <summary>Why no advice could be given.</summary>
public enum AdviceProblemKind
{
    /// <summary>The requirements contradict each other (no tier could ever satisfy them all).</summary>
    Contradiction = 1,
    /// <summary>Tiers exist that would fit, but the project does not allow any of them.</summary>
    NotAllowed = 2,
    /// <summary>Every fitting tier starts slower than the startup budget on this host.</summary>
    OverBudget = 3,
    /// <summary>Every fitting tier is unavailable on this host.</summary>
    Unavailable = 4,
}

/// <summary>Why no tier was advised, with the requirement keys involved and a message that says what to do.</summary>
public sealed record AdviceProblem(AdviceProblemKind Kind, string RuleId, string Message, IReadOnlyList<string> Keys)
{
    public ErrorKind ErrorKind => Kind switch
    {
        AdviceProblemKind.NotAllowed => ErrorKind.Forbidden,
        AdviceProblemKind.Unavailable => ErrorKind.Unavailable,
        _ => ErrorKind.InvalidArgument,
    };

    public StrataException ToException() => new(ErrorKind, Message, Keys.Count > 0 ? Keys[0] : null);
}

/// <summary>Either an <see cref="Advice"/> or an <see cref="AdviceProblem"/>.</summary>
public sealed record AdviceResult(Advice? Advice, AdviceProblem? Problem)
{
    public bool Succeeded => Advice is not null;
}
