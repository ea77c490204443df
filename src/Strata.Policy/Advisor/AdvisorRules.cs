using Strata.Contracts;

namespace Strata.Policy.Advisor;

/// <summary>
/// One row of the rules table: when <see cref="Condition"/> holds for a workload, only the tiers in
/// <see cref="Result"/> may run it. The advisor intersects the results of every rule that fires and
/// picks the weakest tier left (see <see cref="TierRank"/>).
/// </summary>
public sealed class AdvisorRule
{
    internal AdvisorRule(
        string id, string key, string condition, string result,
        Func<Facts, bool> when, Func<Facts, IReadOnlyList<Tier>> allows,
        Func<Facts, string> subject, Func<Facts, string> explain, string? hint = null)
    {
        Id = id;
        Key = key;
        Condition = condition;
        Result = result;
        When = when;
        Allows = allows;
        Subject = subject;
        Explain = explain;
        Hint = hint;
    }

    /// <summary>Stable id, e.g. <c>R1-foreign-os</c>; docs/advisor.md uses the same ids.</summary>
    public string Id { get; }

    /// <summary>The workload-file key the rule reads, e.g. <c>requirements.os</c>.</summary>
    public string Key { get; }

    /// <summary>The condition in words, as in the docs table.</summary>
    public string Condition { get; }

    /// <summary>The allowed tiers in words, as in the docs table.</summary>
    public string Result { get; }

    internal Func<Facts, bool> When { get; }
    internal Func<Facts, IReadOnlyList<Tier>> Allows { get; }
    /// <summary>The requirement as the user wrote it, e.g. <c>os: windows</c>, for clash messages.</summary>
    internal Func<Facts, string> Subject { get; }
    /// <summary>The reason shown when the rule fires, tied to the article's guide.</summary>
    internal Func<Facts, string> Explain { get; }
    /// <summary>What the user can do when this rule takes part in a clash.</summary>
    internal string? Hint { get; }
}

/// <summary>A pair of requirements that can never hold together, whatever the host.</summary>
public sealed class AdvisorContradiction
{
    internal AdvisorContradiction(string id, string firstKey, string secondKey, Func<Facts, bool> when, Func<Facts, string> message)
    {
        Id = id;
        Keys = [firstKey, secondKey];
        When = when;
        Message = message;
    }

    public string Id { get; }

    /// <summary>The two clashing keys.</summary>
    public IReadOnlyList<string> Keys { get; }

    internal Func<Facts, bool> When { get; }
    internal Func<Facts, string> Message { get; }
}

/// <summary>
/// THE RULES, in one place. The order is the article's selection guide (§4): what only a VM can do,
/// then isolation, then the image kind, then hardware, then the plain cases. Each rule narrows the
/// set of tiers; none of them picks a tier alone, so their reasons all show and clashes are found
/// mechanically (two rules whose tier sets do not overlap).
/// </summary>
public static class AdvisorRules
{
    private static readonly IReadOnlyList<Tier> VmOnly = [Tier.Vm];

    public static readonly IReadOnlyList<AdvisorRule> All =
    [
        // 1. Needs what only a whole machine gives? → VM (article §4 step 1 and step 3).
        new("R1-foreign-os", "requirements.os",
            "os is not the host's", "vm",
            f => f.ForeignOs, _ => VmOnly,
            f => $"os: {f.Os}",
            f => $"needs {f.Os} but this host runs {f.HostOs}: only a VM boots another operating system (article §4: a Windows environment stays on VMs)"),
        new("R2-foreign-arch", "requirements.arch",
            "arch is not the host's", "vm",
            f => f.ForeignArch, _ => VmOnly,
            f => $"arch: {f.Arch}",
            f => $"needs {f.Arch} but this host is {f.HostArch}: only a VM emulates another architecture (article §4 step 3: cross-platform → a VM as the base)"),
        new("R3-own-kernel", "requirements.ownKernel",
            "ownKernel: true", "vm",
            f => f.Req.OwnKernel, _ => VmOnly,
            _ => "ownKernel: true",
            _ => "needs a kernel of its own: only a VM boots the workload's own kernel (the sandbox's guest kernel is Strata's, shared by every sandbox)"),
        new("R4-kernel-modules", "requirements.kernelModules",
            "kernelModules is not empty", "vm",
            f => f.Req.KernelModules.Count > 0, _ => VmOnly,
            f => $"kernelModules: [{string.Join(", ", f.Req.KernelModules)}]",
            f => $"loads kernel modules ({string.Join(", ", f.Req.KernelModules)}): they go into a kernel the workload owns, so a VM"),
        new("R5-special-drivers", "requirements.specialDrivers",
            "specialDrivers: true", "vm",
            f => f.Req.SpecialDrivers, _ => VmOnly,
            _ => "specialDrivers: true",
            _ => "needs special drivers: the article keeps such applications on VMs (§4)"),
        new("R6-full-os", "requirements.fullOs",
            "fullOs: true", "vm",
            f => f.Req.FullOs, _ => VmOnly,
            _ => "fullOs: true",
            _ => "needs a full OS environment: article §4 step 1, yes → VM"),
        new("R7-disk-image", "image",
            "the image is a bootable disk", "vm",
            f => f.Image == ImageKind.Disk, _ => VmOnly,
            f => $"image {f.ImageLabel} (a disk image)",
            f => $"{f.ImageLabel} is a disk image: it boots only as a VM"),

        // 2. Needs strong isolation? → secure container (article §4 step 2).
        new("R8-untrusted", "requirements.trust",
            "trust: untrusted", "sandbox or stronger (the project may set wasm or vm; never process or container)",
            f => f.Req.Trust == TrustLevel.Untrusted, f => TierRank.AtLeast(f.UntrustedMinimum),
            _ => "trust: untrusted",
            f => f.UntrustedMinimum switch
            {
                Tier.Wasm => $"untrusted code never runs as process or container; project {f.ProjectName} accepts Wasm's language sandbox for it: wasm or stronger",
                Tier.Vm => $"untrusted code never shares a kernel with others, and project {f.ProjectName} requires a VM for it",
                _ => "untrusted tenants never share a kernel with others: secure container (sandbox) or a VM (article §4 step 2)",
            },
            hint: "to accept Wasm's language sandbox for untrusted modules, an operator can set the project's minimumTierForUntrusted to wasm; or mark the workload trust: trusted"),
        new("R9-strong-isolation", "requirements.isolation",
            "isolation: strong", "sandbox, vm",
            f => f.Req.Isolation == IsolationNeed.Strong, _ => [Tier.Sandbox, Tier.Vm],
            _ => "isolation: strong",
            _ => "strong isolation means a hardware boundary: article §4 step 2, yes → secure container (sandbox), or a VM"),

        // 3. A Wasm module → the Wasm sandbox (the article's outlook).
        new("R10-wasm-module", "image",
            "the image is a Wasm module", "wasm",
            f => f.Image == ImageKind.Wasm, _ => [Tier.Wasm],
            f => $"image {f.ImageLabel} (a Wasm module)",
            f => $"{f.ImageLabel} is a Wasm module: only the wasm tier runs it (article outlook: WebAssembly as a lightweight sandbox)",
            hint: "to give a Wasm module a kernel or a hardware boundary, package it in an OCI image with a Wasm runtime"),

        // 4. Hardware (article §5 case 1: compute-heavy jobs on dedicated VMs, +40 %).
        new("R11-dedicated-hardware", "requirements.hardware",
            "hardware: dedicated", "vm with pinned CPUs, or process (bare metal)",
            f => f.Req.Hardware == HardwareNeed.Dedicated, _ => [Tier.Process, Tier.Vm],
            _ => "hardware: dedicated",
            f => $"compute-heavy work gets hardware of its own{(f.Req.Gpus > 0 ? $" ({f.Req.Gpus} GPU{(f.Req.Gpus == 1 ? "" : "s")} assigned)" : "")}: a VM with pinned CPUs (article §5 case 1: moving such jobs to dedicated VMs gave +40 %), or bare metal for trusted work that wants no isolation"),
        new("R12-shared-hardware", "requirements.hardware",
            "hardware: shared", "process, container, vm",
            f => f.Req.Hardware == HardwareNeed.Shared, _ => [Tier.Process, Tier.Container, Tier.Vm],
            _ => "hardware: shared",
            f => $"uses host devices{(f.Req.Gpus > 0 ? $" ({f.Req.Gpus} GPU{(f.Req.Gpus == 1 ? "" : "s")})" : "")}: a process or container reaches them directly and a VM gets them assigned; the sandbox and wasm tiers have no host devices"),

        // 5. Snapshots of memory state (article §2: save and restore system state at any time).
        new("R13-stateful-snapshots", "requirements.statefulSnapshots",
            "statefulSnapshots: true", "wasm, vm",
            f => f.Req.StatefulSnapshots, _ => [Tier.Wasm, Tier.Vm],
            _ => "statefulSnapshots: true",
            _ => "needs memory-state snapshots: a VM saves memory and disk (article §2), wasm saves its memory; container checkpoints (CRIU) are not relied on"),

        // 6. The plain cases: how much isolation, and what the image can run on.
        new("R14-standard-isolation", "requirements.isolation",
            "isolation: standard (the default)", "container or stronger",
            f => f.Req.Isolation == IsolationNeed.Standard, _ => TierRank.AtLeast(Tier.Container),
            _ => "isolation: standard",
            _ => "standard isolation: at least the kernel's namespaces and cgroups, never a bare process",
            hint: "set isolation: none to run trusted work straight on the host"),
        new("R15-no-isolation", "requirements.isolation",
            "isolation: none", "any tier",
            f => f.Req.Isolation == IsolationNeed.None, _ => TierRank.Ordered,
            _ => "isolation: none",
            _ => "wants no isolation and host access: nothing stronger is needed, so trusted work may run as a plain process (article §1, the physical baseline)"),
        new("R16-host-command", "image",
            "no image", "process",
            f => f.Image == ImageKind.None, _ => [Tier.Process],
            _ => "no image (a host command)",
            _ => "has no image: it is a command on the host, and only the process tier runs host commands",
            hint: "give it an image (e.g. busybox) to run it isolated"),
        new("R17-oci-image", "image",
            "the image is an OCI image", "container, sandbox, vm",
            f => f.Image == ImageKind.Oci, _ => [Tier.Container, Tier.Sandbox, Tier.Vm],
            f => $"image {f.ImageLabel} (an OCI image)",
            f => $"{f.ImageLabel} is an OCI image: it runs as container, sandbox or vm (one image, any of these tiers)"),
    ];

    /// <summary>Clashes that no tier set shows: checked before the rules.</summary>
    public static readonly IReadOnlyList<AdvisorContradiction> Contradictions =
    [
        new("X1-untrusted-without-isolation", "requirements.isolation", "requirements.trust",
            f => f.Req.Isolation == IsolationNeed.None && f.Req.Trust == TrustLevel.Untrusted,
            _ => "requirements.isolation clashes with requirements.trust: isolation: none asks for no isolation and host access, but trust: untrusted code must never share the host: use isolation: standard or strong, or mark it trust: trusted"),
        new("X2-gpus-without-hardware", "requirements.gpus", "requirements.hardware",
            f => f.Req.Gpus > 0 && f.Req.Hardware == HardwareNeed.None,
            f => $"requirements.gpus clashes with requirements.hardware: gpus: {f.Req.Gpus} needs host hardware, but hardware: none says it needs none: set hardware: shared or dedicated"),
    ];

    /// <summary>Id of the generic clash: two rules fired whose tier sets do not overlap.</summary>
    public const string ClashId = "X3-rules-clash";

    /// <summary>Ids of the steps after the rules (docs/advisor.md describes them).</summary>
    public const string ProjectStepId = "P1-project-allowed";
    public const string BudgetStepId = "B1-startup-budget";
    public const string AvailabilityStepId = "A1-available-here";
    public const string FallbackStepId = "F1-fallback";
    public const string SelectionStepId = "S1-lightest-fit";
}

/// <summary>The requirements and the host, normalised once, as the rules read them.</summary>
internal sealed record Facts
{
    public required Requirements Req { get; init; }
    public required ImageKind Image { get; init; }
    public required string ImageLabel { get; init; }
    public required string Os { get; init; }
    public required string HostOs { get; init; }
    public required string? Arch { get; init; }
    public required string HostArch { get; init; }
    public required Tier UntrustedMinimum { get; init; }
    public required string ProjectName { get; init; }

    public bool ForeignOs => Os != HostOs;
    public bool ForeignArch => Arch is not null && Arch != HostArch;

    public static Facts From(Requirements req, AdvisorContext context)
    {
        var hostOs = Platform.NormalizeOs(context.HostOs) ?? context.HostOs.Trim().ToLowerInvariant();
        var hostArch = Platform.NormalizeArch(context.HostArch) ?? context.HostArch.Trim().ToLowerInvariant();
        var arch = req.Arch is null || req.Arch.Equals("host", StringComparison.OrdinalIgnoreCase)
            ? null
            : Platform.NormalizeArch(req.Arch) ?? req.Arch.Trim().ToLowerInvariant();
        var image = context.EffectiveImageKind;
        return new Facts
        {
            Req = req,
            Image = image,
            ImageLabel = string.IsNullOrWhiteSpace(context.Image) ? $"the {image.ToString().ToLowerInvariant()} image" : context.Image.Trim(),
            Os = Platform.NormalizeOs(req.Os) ?? req.Os.Trim().ToLowerInvariant(),
            HostOs = hostOs,
            Arch = arch,
            HostArch = hostArch,
            UntrustedMinimum = context.Project?.MinimumTierForUntrusted ?? TierAdvisor.DefaultMinimumForUntrusted,
            ProjectName = context.Project?.Name ?? "default",
        };
    }
}
