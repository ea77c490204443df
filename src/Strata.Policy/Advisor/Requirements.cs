namespace Strata.Policy.Advisor;

/// <summary>
/// What a workload needs, in the words of the article's selection guide. Every default is the
/// answer "no special need": a Linux workload of the host's architecture, standard isolation,
/// trusted, no special hardware, no memory snapshots, no startup budget.
/// </summary>
public sealed record Requirements
{
    /// <summary>The operating system the workload needs (<c>linux</c>, <c>windows</c>, ...), lower case.</summary>
    public string Os { get; init; } = "linux";

    /// <summary>The CPU architecture it needs (canonical name, see <see cref="Platform"/>); null means the host's.</summary>
    public string? Arch { get; init; }

    /// <summary>Needs a whole OS environment (init, services, its own users), not just one application.</summary>
    public bool FullOs { get; init; }

    /// <summary>Needs a kernel of its own choosing (version, configuration, sysctls no container may set).</summary>
    public bool OwnKernel { get; init; }

    /// <summary>Kernel modules the workload loads.</summary>
    public IReadOnlyList<string> KernelModules { get; init; } = [];

    /// <summary>Needs special device drivers installed in its own kernel or OS.</summary>
    public bool SpecialDrivers { get; init; }

    public IsolationNeed Isolation { get; init; } = IsolationNeed.Standard;

    public TrustLevel Trust { get; init; } = TrustLevel.Trusted;

    public HardwareNeed Hardware { get; init; } = HardwareNeed.None;

    /// <summary>How many GPUs it needs (0 = none).</summary>
    public int Gpus { get; init; }

    /// <summary>Needs snapshots of its memory state (save and restore a running workload).</summary>
    public bool StatefulSnapshots { get; init; }

    /// <summary>The longest acceptable start latency; tiers slower than this on this host are ruled out.</summary>
    public TimeSpan? StartupBudget { get; init; }
}

/// <summary>How much isolation the workload asks for.</summary>
public enum IsolationNeed
{
    /// <summary>No isolation: the workload wants the host itself (host access, bare metal).</summary>
    None = 0,
    /// <summary>The usual isolation: the kernel's namespaces and cgroups are enough.</summary>
    Standard = 1,
    /// <summary>A hardware virtualization boundary between the workload and the host.</summary>
    Strong = 2,
}

/// <summary>Whether the code comes from a tenant the operator trusts.</summary>
public enum TrustLevel
{
    Trusted = 0,
    Untrusted = 1,
}

/// <summary>What the workload needs of the host's hardware.</summary>
public enum HardwareNeed
{
    /// <summary>No host devices.</summary>
    None = 0,
    /// <summary>Host devices (GPUs, ...) that it may share with other workloads.</summary>
    Shared = 1,
    /// <summary>Compute-heavy: CPUs and devices of its own (pinned CPUs, assigned devices).</summary>
    Dedicated = 2,
}

/// <summary>What the workload's image is; decides which tiers can run it at all.</summary>
public enum ImageKind
{
    /// <summary>No image: a command on the host.</summary>
    None = 0,
    /// <summary>An OCI image (runs as container, sandbox or vm).</summary>
    Oci = 1,
    /// <summary>A WebAssembly module (runs as wasm).</summary>
    Wasm = 2,
    /// <summary>A bootable disk image (runs as vm).</summary>
    Disk = 3,
}
