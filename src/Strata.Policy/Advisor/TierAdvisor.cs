using Strata.Contracts;
using Strata.Policy.Workloads;

namespace Strata.Policy.Advisor;

/// <summary>
/// The tier advisor: the article's selection guide (§4) as a pure function. No I/O, no clock: the
/// same requirements and context always give the same advice.
///
///   contradictions ─► rules (intersect tier sets) ─► project ─► startup budget ─► available here
///        X1, X2          R1 … R17, clash X3            P1            B1                 A1, F1
///                                       └─ the weakest tier left wins (S1) ─┘
/// </summary>
public static class TierAdvisor
{
    /// <summary>Untrusted code gets at least this tier unless its project says otherwise.</summary>
    public const Tier DefaultMinimumForUntrusted = Tier.Sandbox;

    /// <summary>The weakest tier untrusted code may ever get, whatever a project says.</summary>
    public const Tier UntrustedFloor = Tier.Wasm;

    /// <summary>Advises a tier, or throws <see cref="StrataException"/> saying which requirements clash or what is missing here.</summary>
    public static Advice Decide(Requirements req, AdvisorContext context)
    {
        var result = Evaluate(req, context);
        return result.Advice ?? throw result.Problem!.ToException();
    }

    /// <summary>Advises a tier for a parsed workload: its image goes into the context when the context has none.</summary>
    public static Advice Decide(WorkloadDefinition workload, AdvisorContext context)
    {
        ArgumentNullException.ThrowIfNull(workload);
        return Decide(workload.Requirements, context.Image is null ? context with { Image = workload.Image } : context);
    }

    /// <summary>Like <see cref="Decide(Requirements, AdvisorContext)"/>, but returns the problem instead of throwing.</summary>
    public static AdviceResult Evaluate(Requirements req, AdvisorContext context)
    {
        ArgumentNullException.ThrowIfNull(req);
        ArgumentNullException.ThrowIfNull(context);
        context.Project?.Validate();
        var facts = Facts.From(req, context);

        foreach (var contradiction in AdvisorRules.Contradictions)
        {
            if (contradiction.When(facts))
            {
                return Fail(AdviceProblemKind.Contradiction, contradiction.Id, contradiction.Message(facts), contradiction.Keys);
            }
        }

        var fired = AdvisorRules.All.Where(r => r.When(facts)).ToList();
        IReadOnlyList<Tier> fitting = TierRank.Ordered;
        foreach (var rule in fired)
        {
            var allows = rule.Allows(facts);
            fitting = [.. fitting.Where(allows.Contains)];
        }
        if (fitting.Count == 0)
        {
            return Clash(fired, facts);
        }

        var project = context.Project;
        var allowed = project?.AllowedTiers is { } set ? [.. fitting.Where(set.Contains)] : fitting;
        if (allowed.Count == 0)
        {
            var projectTiers = string.Join(", ", TierRank.Ordered.Where(project!.AllowedTiers!.Contains).Select(t => t.ToName()));
            return Fail(AdviceProblemKind.NotAllowed, AdvisorRules.ProjectStepId,
                $"project {project.Name} allows only {projectTiers}, but this workload needs {Or(fitting)} ({string.Join("; ", Restricting(fired, facts).Select(r => r.Subject(facts)))}): ask an operator to allow {fitting[0].ToName()} in project {project.Name}, or change the requirements",
                ["tier"]);
        }

        var budget = req.StartupBudget;
        var inBudget = budget is { } b ? [.. allowed.Where(t => context.CostOf(t).StartLatency <= b)] : allowed;
        if (inBudget.Count == 0)
        {
            var fastest = allowed.MinBy(t => context.CostOf(t).StartLatency);
            return Fail(AdviceProblemKind.OverBudget, AdvisorRules.BudgetStepId,
                $"requirements.startupBudget: {Durations.Format(budget!.Value)} rules out every tier that fits ({string.Join(", ", allowed.Select(t => $"{t.ToName()} starts in {context.CostOf(t)}"))}): raise startupBudget to at least {Durations.Format(context.CostOf(fastest).StartLatency)}, or relax the requirements that rule out faster tiers",
                ["requirements.startupBudget"]);
        }

        var available = inBudget.Where(t => IsAvailable(context, t)).ToList();
        if (available.Count == 0)
        {
            var why = string.Join("; ", inBudget.Select(t => $"{t.ToName()}: {AvailabilityReason(context, t)}"));
            var overBudget = allowed.Except(inBudget).ToList();
            return Fail(AdviceProblemKind.Unavailable, AdvisorRules.AvailabilityStepId,
                $"this workload needs {Or(inBudget)}, and none is available on this host ({why}){(overBudget.Count > 0 ? $"; {Or(overBudget)} would fit but start slower than the startup budget" : "")}: make one of them available here (install its engine), or run the workload on a host that has it",
                []);
        }

        var ideal = inBudget[0];
        var taken = available[0];
        var reasons = fired.Select(r => new AdviceReason(r.Id, r.Explain(facts))).ToList();
        if (allowed.Count < fitting.Count)
        {
            reasons.Add(new(AdvisorRules.ProjectStepId,
                $"project {project!.Name} does not allow {And(fitting.Except(allowed))}"));
        }
        if (inBudget.Count < allowed.Count)
        {
            reasons.Add(new(AdvisorRules.BudgetStepId,
                $"the startup budget of {Durations.Format(budget!.Value)} rules out {string.Join(", ", allowed.Except(inBudget).Select(t => $"{t.ToName()} ({context.CostOf(t)})"))}"));
        }
        reasons.Add(new(AdvisorRules.SelectionStepId, Selection(ideal, inBudget, fired)));

        Fallback? fallback = null;
        if (taken != ideal)
        {
            var why = $"{ideal.ToName()} is not available here ({AvailabilityReason(context, ideal)}); {taken.ToName()} is the next tier that satisfies every rule{(ideal == Tier.Sandbox && taken == Tier.Vm ? " (article §4: where no secure container is available, a VM)" : "")}";
            fallback = new Fallback(ideal, taken, why);
            reasons.Add(new(AdvisorRules.FallbackStepId, why));
        }

        return new AdviceResult(new Advice
        {
            Chosen = taken,
            Reasons = reasons,
            RunnersUp = RunnersUp(taken, fired, facts, context, fitting, allowed, inBudget),
            Fallback = fallback,
            PinCpus = taken == Tier.Vm && req.Hardware == HardwareNeed.Dedicated,
            Cost = context.CostOf(taken),
        }, null);
    }

    /// <summary>
    /// For a workload whose tier is set by hand: the rules (and contradictions) that tier breaks.
    /// Empty when the tier satisfies every rule. Availability, project and budget are not checked here.
    /// </summary>
    public static IReadOnlyList<AdviceReason> Violations(Requirements req, AdvisorContext context, Tier tier)
    {
        ArgumentNullException.ThrowIfNull(req);
        ArgumentNullException.ThrowIfNull(context);
        var facts = Facts.From(req, context);
        var violations = AdvisorRules.Contradictions.Where(c => c.When(facts)).Select(c => new AdviceReason(c.Id, c.Message(facts))).ToList();
        violations.AddRange(AdvisorRules.All
            .Where(r => r.When(facts) && !r.Allows(facts).Contains(tier))
            .Select(r => new AdviceReason(r.Id, $"{r.Subject(facts)} needs {Or(r.Allows(facts))}: {r.Explain(facts)}")));
        return violations;
    }

    private static AdviceResult Clash(List<AdvisorRule> fired, Facts facts)
    {
        // Name the first pair of rules (in table order) that can never agree; if only three or more
        // together clash, name all the rules that narrowed the set.
        for (var i = 0; i < fired.Count; i++)
        {
            for (var j = i + 1; j < fired.Count; j++)
            {
                var a = fired[i];
                var b = fired[j];
                var aTiers = a.Allows(facts);
                var bTiers = b.Allows(facts);
                if (!aTiers.Intersect(bTiers).Any())
                {
                    var hints = new[] { a.Hint, b.Hint }.Where(h => h is not null).Distinct();
                    var keys = a.Key == b.Key ? new[] { a.Key } : [a.Key, b.Key];
                    return Fail(AdviceProblemKind.Contradiction, AdvisorRules.ClashId,
                        $"{a.Key} clashes with {b.Key}: {a.Subject(facts)} needs {Or(aTiers)} ({a.Explain(facts)}), but {b.Subject(facts)} needs {Or(bTiers)} ({b.Explain(facts)}){(hints.Any() ? "; " + string.Join("; ", hints) : "")}",
                        keys);
                }
            }
        }
        var restricting = Restricting(fired, facts);
        return Fail(AdviceProblemKind.Contradiction, AdvisorRules.ClashId,
            $"no tier satisfies all of: {string.Join("; ", restricting.Select(r => $"{r.Subject(facts)} needs {Or(r.Allows(facts))}"))}",
            [.. restricting.Select(r => r.Key).Distinct()]);
    }

    private static List<AdvisorRule> Restricting(List<AdvisorRule> fired, Facts facts) =>
        [.. fired.Where(r => r.Allows(facts).Count < TierRank.Ordered.Count)];

    private static string Selection(Tier ideal, IReadOnlyList<Tier> candidates, List<AdvisorRule> fired)
    {
        bool Fired(string id) => fired.Any(r => r.Id == id);
        var heavier = candidates.Where(t => t != ideal).ToList();
        var lead = heavier.Count == 0
            ? $"{ideal.ToName()} is the only tier that meets every rule above"
            : $"{ideal.ToName()} is the lightest tier that meets every rule above (heavier: {And(heavier)})";
        var flow = ideal switch
        {
            Tier.Process => "trusted work that wants no isolation and host access runs as a plain process (article §1)",
            Tier.Container => "everything else → ordinary container (article §4 step 2: no strong isolation → container)",
            Tier.Wasm => "a Wasm module runs in the lightweight Wasm sandbox (article outlook)",
            Tier.Sandbox when Fired("R8-untrusted") || Fired("R9-strong-isolation") =>
                "strong isolation or an untrusted tenant, without a need for a whole machine → secure container (article §4 step 2)",
            Tier.Vm when Fired("R11-dedicated-hardware") => "compute-heavy work → a VM with pinned CPUs (article §5 case 1)",
            Tier.Vm when fired.Any(r => IsVmOnly(r.Id)) => "a need only a whole machine meets → VM (article §4 step 1)",
            _ => null,
        };
        return flow is null ? lead : $"{lead}: {flow}";
    }

    private static bool IsVmOnly(string id) => id is "R1-foreign-os" or "R2-foreign-arch" or "R3-own-kernel" or "R4-kernel-modules"
        or "R5-special-drivers" or "R6-full-os" or "R7-disk-image";

    private static List<RunnerUp> RunnersUp(
        Tier chosen, List<AdvisorRule> fired, Facts facts, AdvisorContext context,
        IReadOnlyList<Tier> fitting, IReadOnlyList<Tier> allowed, IReadOnlyList<Tier> inBudget)
    {
        var viable = new List<RunnerUp>();
        var ruledOut = new List<RunnerUp>();
        foreach (var tier in TierRank.Ordered.Where(t => t != chosen))
        {
            var cost = context.CostOf(tier);
            if (!fitting.Contains(tier))
            {
                var rule = fired.First(r => !r.Allows(facts).Contains(tier));
                ruledOut.Add(new(tier, false, $"{rule.Id}: {rule.Subject(facts)} needs {Or(rule.Allows(facts))}", cost));
            }
            else if (!allowed.Contains(tier))
            {
                ruledOut.Add(new(tier, false, $"{AdvisorRules.ProjectStepId}: project {context.Project!.Name} does not allow it", cost));
            }
            else if (!inBudget.Contains(tier))
            {
                ruledOut.Add(new(tier, false, $"{AdvisorRules.BudgetStepId}: starts slower than the startup budget of {Durations.Format(facts.Req.StartupBudget!.Value)}", cost));
            }
            else if (!IsAvailable(context, tier))
            {
                ruledOut.Add(new(tier, false, $"{AdvisorRules.AvailabilityStepId}: not available here: {AvailabilityReason(context, tier)}", cost));
            }
            else
            {
                viable.Add(new(tier, true, $"would also work, but {chosen.ToName()} is lighter", cost));
            }
        }
        return [.. viable, .. ruledOut];
    }

    private static bool IsAvailable(AdvisorContext context, Tier tier) =>
        context.Tiers.TryGetValue(tier, out var availability) && availability.Available;

    private static string AvailabilityReason(AdvisorContext context, Tier tier) =>
        context.Tiers.TryGetValue(tier, out var availability) ? availability.Reason : "this host did not report it";

    private static string Or(IEnumerable<Tier> tiers) => Join(tiers, "or");

    private static string And(IEnumerable<Tier> tiers) => Join(tiers, "and");

    private static string Join(IEnumerable<Tier> tiers, string word)
    {
        var names = tiers.Select(t => t.ToName()).ToList();
        return names.Count switch
        {
            0 => "no tier",
            1 => names[0],
            _ => $"{string.Join(", ", names.Take(names.Count - 1))} {word} {names[^1]}",
        };
    }

    private static AdviceResult Fail(AdviceProblemKind kind, string ruleId, string message, IReadOnlyList<string> keys) =>
        new(null, new AdviceProblem(kind, ruleId, message, keys));
}
