using Strata.Contracts;
using Strata.Control.Projects;

namespace Strata.Control;

/// <summary>Settings of the control plane, validated once by the daemon.</summary>
public sealed record ControlOptions
{
    public required string Root { get; init; }
    public bool AllowFakeTier { get; init; }

    /// <summary>Where an instance goes (the tier advisor). Null: no image → process, a .wasm module → wasm, else container.</summary>
    public IInstancePlacement? Placement { get; init; }

    /// <summary>
    /// Projects. When set, every create names an existing project, and that project's restrictions and quota are
    /// enforced at admission (403 with the reason). Null: any project name, no rules (unit tests).
    /// </summary>
    public ProjectService? Projects { get; init; }

    /// <summary>
    /// Counts live resizes of the instances it knows cluster-wide (<see cref="IResizeQuota"/>); null: a resize is
    /// checked against this daemon's instances of the project only (a single host).
    /// </summary>
    public IResizeQuota? ResizeQuota { get; init; }

    /// <summary>
    /// Reaches a live move's destination again (its address and token, for a project) to settle a move whose
    /// confirmation was lost; null: such a move is left for an operator (docs/move.md, "Crash windows").
    /// </summary>
    public Func<MoveDestinationRef, string, IMoveDestination>? OpenMoveDestination { get; init; }
}

/// <summary>
/// Places a (normalised) spec: chooses the tier for <c>tier: auto</c>, or checks a named tier against the spec's
/// requirements. The placement is stored with the instance.
/// </summary>
public interface IInstancePlacement
{
    /// <param name="spec">The normalised spec.</param>
    /// <param name="requested">The tier the spec names, parsed by the caller; null for <c>auto</c>.</param>
    /// <param name="project">The project, whose rules (allowed tiers, minimum tier for untrusted code) it honours.</param>
    /// <exception cref="StrataException">No tier fits, or the named one does not meet the requirements.</exception>
    Placement Place(InstanceSpec spec, Tier? requested, string project);
}
