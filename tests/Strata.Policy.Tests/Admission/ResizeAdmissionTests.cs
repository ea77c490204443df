using Strata.Contracts;
using Strata.Policy.Admission;

namespace Strata.Policy.Tests.Admission;

/// <summary><see cref="ProjectAdmission.CheckResize"/>: only what grows is checked, and a refusal names the quota, the use and the fix.</summary>
public sealed class ResizeAdmissionTests
{
    private const long MiB = 1L << 20;
    private static readonly ProjectQuota Quota = new() { MemoryBytes = 256 * MiB, Cpus = 2, Instances = 1, Pids = 1 };

    [Fact]
    public void AGrowthPastTheMemoryQuota_IsRefused_NamingTheQuotaTheUseAndTheFix()
    {
        var usage = new ProjectUsage { Instances = 3, MemoryBytes = 256 * MiB, Cpus = 1.5 };
        var e = Assert.Throws<StrataException>(() => ProjectAdmission.CheckResize("team", "web", Quota, usage,
            new ResourceSpec { MemoryBytes = 64 * MiB, Cpus = 1 }, new ResourceSpec { MemoryBytes = 96 * MiB, Cpus = 1 }, "across the cluster, on every node"));
        Assert.Equal(ErrorKind.Forbidden, e.Kind);
        Assert.Equal("quota.memoryBytes", e.Field);
        Assert.Equal("resizing 'web': project 'team' would exceed its memory quota: 192M in use + 96M asked > 256M; ask for less (--memory), " +
            "remove instances, or ask an administrator to raise it (strata project set-quota team). Counted across the cluster, on every node: " +
            "the project uses 256M of memory and 1.5 CPUs now, 64M and 1 of them by 'web' ('in use' is the rest)", e.Message);
    }

    [Fact]
    public void OnlyWhatGrowsIsChecked_AShrinkPassesOverALoweredQuota_TheInstanceAndPidQuotasAreNotCounted()
    {
        // Over both quotas already (a lowered quota): shrinking memory, keeping CPUs, passes.
        var over = new ProjectUsage { Instances = 5, MemoryBytes = 512 * MiB, Cpus = 4, Pids = 100 };
        ProjectAdmission.CheckResize("team", "web", Quota, over, new ResourceSpec { MemoryBytes = 128 * MiB, Cpus = 2 }, new ResourceSpec { MemoryBytes = 64 * MiB, Cpus = 2 }, "here");
        // Growing CPUs within their quota while memory is over its own: only the CPUs are checked.
        var memoryOver = new ProjectUsage { MemoryBytes = 512 * MiB, Cpus = 1 };
        ProjectAdmission.CheckResize("team", "web", Quota, memoryOver, new ResourceSpec { MemoryBytes = 128 * MiB, Cpus = 1 }, new ResourceSpec { MemoryBytes = 128 * MiB, Cpus = 2 }, "here");
        // The same CPU growth past the CPU quota is refused on CPUs.
        var cpus = Assert.Throws<StrataException>(() => ProjectAdmission.CheckResize("team", "web", Quota, memoryOver with { Cpus = 1.5 },
            new ResourceSpec { MemoryBytes = 128 * MiB, Cpus = 1 }, new ResourceSpec { MemoryBytes = 128 * MiB, Cpus = 2 }, "here"));
        Assert.Equal("quota.cpus", cpus.Field);
        Assert.Contains("0.5 in use + 2 asked > 2", cpus.Message, StringComparison.Ordinal);
    }
}
