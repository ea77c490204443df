using Strata.Contracts;
using Strata.Control.Projects;

namespace Strata.Control;

/// <summary>Settings of the control plane, validated once by the daemon.</summary>
public sealed record ControlOptions
{
    public required string Root { get; init; }
    public bool AllowFakeTier { get; init; }
    /// <summary>
    /// Places a (normalised) spec: chooses the tier for <c>tier: auto</c> and checks a named tier against the
    /// spec's requirements (the tier advisor). Throws <see cref="StrataException"/> when no tier fits. The
    /// placement is stored with the instance. Null: no image → process, a .wasm module → wasm, else an error.
    /// The second argument is the project, whose rules (allowed tiers, minimum tier for untrusted code) it honours.
    /// </summary>
    public Func<InstanceSpec, string, Placement>? TierChooser { get; init; }

    /// <summary>
    /// Projects. When set, every create names an existing project, and that project's restrictions and quota are
    /// enforced at admission (403 with the reason). Null: any project name, no rules (unit tests).
    /// </summary>
    public ProjectService? Projects { get; init; }
}
