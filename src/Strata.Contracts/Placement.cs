namespace Strata.Contracts;

/// <summary>
/// What a workload needs, as <c>InstanceSpec.requirements</c> and the workload file's <c>requirements</c>
/// carry it. Plain strings, numbers and booleans; the tier advisor validates them when it advises
/// (errors name <c>requirements.&lt;key&gt;</c>). Unset members mean "no special need" (docs/advisor.md).
/// </summary>
public sealed record WorkloadRequirements
{
    /// <summary><c>linux</c> (default), <c>windows</c>, <c>freebsd</c>, ...</summary>
    public string? Os { get; init; }
    /// <summary><c>host</c> (default), <c>amd64</c>, <c>arm64</c>, ...</summary>
    public string? Arch { get; init; }
    public bool? FullOs { get; init; }
    public bool? OwnKernel { get; init; }
    public IReadOnlyList<string>? KernelModules { get; init; }
    public bool? SpecialDrivers { get; init; }
    /// <summary><c>none</c>, <c>standard</c> (default) or <c>strong</c>.</summary>
    public string? Isolation { get; init; }
    /// <summary><c>trusted</c> (default) or <c>untrusted</c>.</summary>
    public string? Trust { get; init; }
    /// <summary><c>none</c> (default), <c>shared</c> or <c>dedicated</c>.</summary>
    public string? Hardware { get; init; }
    public int? Gpus { get; init; }
    public bool? StatefulSnapshots { get; init; }
    /// <summary>Longest acceptable start, e.g. <c>500us</c>, <c>50ms</c>, <c>5s</c>.</summary>
    public string? StartupBudget { get; init; }
}

/// <summary>Why an instance runs on its tier: stored with the instance and shown by <c>inspect</c>.</summary>
public sealed record Placement
{
    public required string Tier { get; init; }
    /// <summary><c>advisor</c> (tier: auto) or <c>request</c> (the tier was named in the request).</summary>
    public required string ChosenBy { get; init; }
    public required IReadOnlyList<PlacementReason> Reasons { get; init; }
    public PlacementFallback? Fallback { get; init; }
    public IReadOnlyList<PlacementRunnerUp>? RunnersUp { get; init; }
    /// <summary>Give the workload pinned CPUs (dedicated hardware on the vm tier).</summary>
    public bool PinCpus { get; init; }
    /// <summary>What starting on the tier costs here, e.g. <c>~50 ms (documented class)</c>.</summary>
    public string? Cost { get; init; }
}

/// <summary>One reason, tagged with the advisor rule that produced it (e.g. <c>R8-untrusted</c>).</summary>
public sealed record PlacementReason(string Rule, string Text);

/// <summary>The ideal tier was not available here; <see cref="Taken"/> was used instead.</summary>
public sealed record PlacementFallback(string Ideal, string Taken, string Why);

/// <summary>A tier that was not chosen: possible but heavier, or ruled out (and why), with its cost here.</summary>
public sealed record PlacementRunnerUp(string Tier, bool Viable, string WhyNot, string Cost);

/// <summary>Body of <c>POST /v1/advise</c>: a workload file (YAML or JSON text) or one spec.</summary>
public sealed record AdviseRequest
{
    public string? File { get; init; }
    /// <summary>Used in error messages only.</summary>
    public string? FileName { get; init; }
    public InstanceSpec? Spec { get; init; }
}

/// <summary>The advice for every workload of an <see cref="AdviseRequest"/>.</summary>
public sealed record AdviseResponse(IReadOnlyList<AdviseItem> Items);

/// <summary>The advice for one workload: the tier and why, or the problem that prevents any tier.</summary>
public sealed record AdviseItem
{
    public required string Name { get; init; }
    public string? Project { get; init; }
    /// <summary>The advised tier (or the tier the workload names); null when <see cref="Problem"/> is set.</summary>
    public string? Tier { get; init; }
    public string? ChosenBy { get; init; }
    public IReadOnlyList<PlacementReason>? Reasons { get; init; }
    public IReadOnlyList<PlacementRunnerUp>? RunnersUp { get; init; }
    public PlacementFallback? Fallback { get; init; }
    public bool PinCpus { get; init; }
    public string? Cost { get; init; }
    public ProblemDetails? Problem { get; init; }
    /// <summary>The resources the workload declares (<c>resources:</c> in the file), echoed for <c>strata plan</c>; null when none.</summary>
    public ResourceSpec? Resources { get; init; }
}

/// <summary>Body of <c>POST /v1/apply</c>.</summary>
public sealed record ApplyRequest
{
    public required string File { get; init; }
    public string? FileName { get; init; }
}

/// <summary>What <c>apply</c> did. <see cref="Complete"/> is false when a create failed midway (see the items).</summary>
public sealed record ApplyResponse(bool Complete, IReadOnlyList<ApplyItem> Items);

/// <summary>One workload of an apply.</summary>
public sealed record ApplyItem
{
    public required string Name { get; init; }
    public required string Project { get; init; }
    public string? Tier { get; init; }
    /// <summary><c>created</c>, <c>unchanged</c>, <c>replaced</c>, <c>failed</c> or <c>skipped</c> (not attempted after a failure).</summary>
    public required string Action { get; init; }
    public IReadOnlyList<PlacementReason>? Reasons { get; init; }
    public ProblemDetails? Problem { get; init; }
}
