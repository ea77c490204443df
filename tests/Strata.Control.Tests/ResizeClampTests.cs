using Strata.Contracts;
using Strata.Control.Usage;

namespace Strata.Control.Tests;

/// <summary>
/// A recommendation clamped to what each tier's live resize takes, each clamp with its sentence: the guests' 64 MiB
/// floor and boot-size ceiling, a VM's vCPUs never fewer (hot-plug adds only) and whole, a sandbox's unchanged, the
/// cgroup tiers' hundredths of a core, the host's size; and nothing said when nothing was clamped.
/// </summary>
public sealed class ResizeClampTests
{
    private const long Mib = 1024 * 1024;
    private static readonly HostCapacity Host = new(8, 16L * 1024 * Mib);

    [Fact]
    public void Vm_FewerVcpusThanItHas_KeepsItsCount_AndSaysHotPlugCannotRemove()
    {
        var c = ResizeClamp.Clamp(Tier.Vm, currentCpus: 2, specMemoryBytes: 512 * Mib, Host, 200 * Mib, cpuCores: 0.3);
        Assert.Equal(2, c.Cpus);
        Assert.Equal(200 * Mib, c.MemoryBytes);
        Assert.Contains("kept at the VM's 2 vCPU(s): hot-plug adds vCPUs, it cannot remove them", Assert.Single(c.Notes), StringComparison.Ordinal);
    }

    [Fact]
    public void Vm_MoreVcpus_AreWhole_AndMemoryBelowTheFloor_IsRaisedTo64MiB()
    {
        var c = ResizeClamp.Clamp(Tier.Vm, currentCpus: 1, specMemoryBytes: 512 * Mib, Host, 40 * Mib, cpuCores: 2.2);
        Assert.Equal(3, c.Cpus);
        Assert.Equal(64 * Mib, c.MemoryBytes);
        Assert.Contains(c.Notes, n => n.StartsWith("memory 40 MiB raised to the vm tier's floor of 64 MiB", StringComparison.Ordinal));
        Assert.Contains(c.Notes, n => n.StartsWith("cpu 2.2 rounded up to 3 whole vCPU(s)", StringComparison.Ordinal));
    }

    [Fact]
    public void Guests_MemoryAboveWhatTheyBootedWith_IsCappedThere_TheDefaultWhenTheSpecSetsNone()
    {
        var sandbox = ResizeClamp.Clamp(Tier.Sandbox, currentCpus: 1, specMemoryBytes: 320 * Mib, Host, 600 * Mib, cpuCores: 0.5);
        Assert.Equal(320 * Mib, sandbox.MemoryBytes);
        Assert.Contains("capped at the 320 MiB the sandbox booted with", Assert.Single(sandbox.Notes), StringComparison.Ordinal);

        var vm = ResizeClamp.Clamp(Tier.Vm, currentCpus: 1, specMemoryBytes: null, Host, 300 * Mib, cpuCores: 1);
        Assert.Equal(256 * Mib, vm.MemoryBytes); // a VM without --memory boots with 256 MiB
    }

    [Fact]
    public void Sandbox_KeepsItsVcpus_EitherWay()
    {
        var up = ResizeClamp.Clamp(Tier.Sandbox, currentCpus: 1, specMemoryBytes: 320 * Mib, Host, 128 * Mib, cpuCores: 3);
        var down = ResizeClamp.Clamp(Tier.Sandbox, currentCpus: 2, specMemoryBytes: 320 * Mib, Host, 128 * Mib, cpuCores: 0.2);
        Assert.Equal(1, up.Cpus);
        Assert.Equal(2, down.Cpus);
        Assert.All([.. up.Notes, .. down.Notes], n => Assert.Contains("microvm has no CPU hot-plug", n, StringComparison.Ordinal));
    }

    [Fact]
    public void CgroupTiers_TakeTheirFloor_FractionsOfACore_AndNoMoreThanTheHost()
    {
        var small = ResizeClamp.Clamp(Tier.Container, currentCpus: 2, specMemoryBytes: 64 * Mib, Host, 2 * Mib, cpuCores: 0.3);
        Assert.Equal(4 * Mib, small.MemoryBytes);
        Assert.Equal(0.3, small.Cpus, 6); // a container may go down, to a fraction: its quota is a cgroup file
        Assert.Contains("memory 2 MiB raised to the container tier's floor of 4 MiB", Assert.Single(small.Notes), StringComparison.Ordinal);

        // Rounded up to a hundredth of a core (the finest quota a resize sets), at least one hundredth, silently.
        Assert.Equal(0.32, ResizeClamp.Clamp(Tier.Process, 1, null, Host, 64 * Mib, cpuCores: 0.3101).Cpus, 6);
        Assert.Equal(0.01, ResizeClamp.Clamp(Tier.Fake, 1, null, Host, 64 * Mib, cpuCores: 0.0004).Cpus, 6);
        Assert.Empty(ResizeClamp.Clamp(Tier.Process, 1, null, Host, 64 * Mib, cpuCores: 0.3101).Notes);

        var big = ResizeClamp.Clamp(Tier.Process, currentCpus: 2, specMemoryBytes: null, Host, 40L * 1024 * Mib, cpuCores: 12);
        Assert.Equal(Host.MemoryBytes, big.MemoryBytes);
        Assert.Equal(8, big.Cpus);
        Assert.Contains(big.Notes, n => n.StartsWith("memory 40960 MiB capped at the host's 16384 MiB", StringComparison.Ordinal));
        Assert.Contains(big.Notes, n => n.StartsWith("cpu 12 capped at the host's 8 CPUs", StringComparison.Ordinal));
    }

    [Fact]
    public void NothingOutOfRange_IsOnlyRounded_AndSaysNothing()
    {
        var c = ResizeClamp.Clamp(Tier.Container, currentCpus: 2, specMemoryBytes: 1024 * Mib, Host, (300 * Mib) + 1, cpuCores: 2);
        Assert.Equal(301 * Mib, c.MemoryBytes); // rounded up to a MiB, as resize takes it
        Assert.Equal(2, c.Cpus);
        Assert.False(c.Clamped);
        Assert.Empty(c.Notes);
    }
}
