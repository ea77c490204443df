using System.Globalization;
using Strata.Contracts;
using Strata.Contracts.Drivers;

namespace Strata.Control.Usage;

/// <summary>Limits a tier's live resize can take, and why each differs from what was asked (empty: nothing clamped).</summary>
public sealed record ClampedLimits(long MemoryBytes, double Cpus, IReadOnlyList<string> Notes)
{
    public bool Clamped => Notes.Count > 0;
}

/// <summary>
/// Puts a recommendation inside what the instance's tier can apply (docs/rightsizing.md, "Clamped to the tier"):
/// memory rounded up to a MiB, at least the tier's floor (<see cref="TierResizeRange"/>), at most what a vm or sandbox
/// booted with and the host's memory; CPUs for the cgroup tiers rounded up to a hundredth of a core (the finest quota a
/// resize sets), for a vm in whole vCPUs, each at most the host's; a vm's vCPUs never below the count it has (hot-plug
/// adds, it does not remove) and a sandbox's unchanged (microvm has no CPU hot-plug). Pure: each rule that changed a value adds a sentence saying what and why.
/// </summary>
public static class ResizeClamp
{
    private const long MiB = 1024 * 1024;

    /// <param name="tier">The instance's tier.</param>
    /// <param name="currentCpus">The vCPUs (or cores of quota) the instance has now.</param>
    /// <param name="specMemoryBytes">The spec's memory (what a vm or sandbox booted with; null: the tier's default).</param>
    /// <param name="host">This host's size.</param>
    /// <param name="memoryBytes">The memory asked for, in bytes.</param>
    /// <param name="cpuCores">The CPU asked for, in cores.</param>
    public static ClampedLimits Clamp(Tier tier, double currentCpus, long? specMemoryBytes, HostCapacity host, double memoryBytes, double cpuCores)
    {
        var notes = new List<string>(2);
        var memory = (long)Math.Ceiling(memoryBytes / MiB) * MiB;
        var floor = TierResizeRange.MinimumMemoryBytes(tier);
        var ceiling = Math.Min(TierResizeRange.MaximumMemoryBytes(tier, specMemoryBytes) ?? long.MaxValue, host.MemoryBytes);
        if (memory < floor)
        {
            notes.Add(Invariant($"memory {Mib(memory)} raised to the {tier.ToName()} tier's floor of {Mib(floor)} ({(tier is Tier.Vm or Tier.Sandbox ? "the balloon leaves a guest no less" : "the least limit a cgroup resize sets")})"));
            memory = floor;
        }
        else if (memory > ceiling)
        {
            notes.Add(ceiling == host.MemoryBytes
                ? Invariant($"memory {Mib(memory)} capped at the host's {Mib(ceiling)}")
                : Invariant($"memory {Mib(memory)} capped at the {Mib(ceiling)} the {tier.ToName()} booted with (the balloon gives memory back, it cannot add beyond that)"));
            memory = ceiling;
        }

        if (tier is not (Tier.Vm or Tier.Sandbox))
        {
            var steps = Math.Max(1, Math.Ceiling((cpuCores / TierResizeRange.CgroupCpuStep) - 1e-6));
            var quota = Math.Round(steps * TierResizeRange.CgroupCpuStep, 2);
            if (quota > host.Cpus)
            {
                notes.Add(Invariant($"cpu {Cores(cpuCores)} capped at the host's {host.Cpus} CPUs"));
                quota = host.Cpus;
            }
            return new ClampedLimits(memory, quota, notes);
        }
        var whole = Math.Max(1, (int)Math.Ceiling(cpuCores - 1e-9));
        var now = Math.Max(1, (int)Math.Ceiling(currentCpus - 1e-9));
        var cpus = whole;
        if (tier == Tier.Sandbox && cpus != now)
        {
            notes.Add(Invariant($"cpu {Cores(cpuCores)} kept at the sandbox's {now} vCPU(s): QEMU's microvm has no CPU hot-plug"));
            cpus = now;
        }
        else if (tier == Tier.Vm && cpus < now)
        {
            notes.Add(Invariant($"cpu {Cores(cpuCores)} kept at the VM's {now} vCPU(s): hot-plug adds vCPUs, it cannot remove them"));
            cpus = now;
        }
        else if (cpus > host.Cpus)
        {
            notes.Add(Invariant($"cpu {Cores(cpuCores)} capped at the host's {host.Cpus} CPUs"));
            cpus = host.Cpus;
        }
        else if (Math.Abs(cpus - cpuCores) > 0.005 && cpus != now)
        {
            notes.Add(Invariant($"cpu {Cores(cpuCores)} rounded up to {cpus} whole vCPU(s) (a VM adds whole vCPUs)"));
        }
        return new ClampedLimits(memory, cpus, notes);
    }

    private static string Mib(long bytes) => Invariant($"{bytes / MiB} MiB");

    private static string Cores(double cores) => Invariant($"{cores:0.###}");

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
