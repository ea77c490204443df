using Strata.Qemu;

namespace Strata.Bench.Core;

/// <summary>
/// A raw baseline started in a session of its own (<c>setsid</c>), as the supervisor starts every workload. Linux
/// shares the CPU between sessions first (autogroups, <c>/proc/sys/kernel/sched_autogroup_enabled</c>), then between
/// the threads of each: a raw QEMU left in the bench's session shares one session's CPU with everything else started
/// from the same shell (a build, another bench), while Strata's QEMU has a session to itself. On a loaded host that
/// made raw QEMU up to 6 × slower than the same guest under Strata (docs/bench.md, "Baselines and sessions").
/// </summary>
public static class OwnSession
{
    /// <summary><paramref name="argv"/> run through <c>setsid --wait</c> (util-linux): the same process when the caller is not a group leader.</summary>
    public static IReadOnlyList<string> Argv(IReadOnlyList<string> argv) => ["setsid", "--wait", .. argv];

    public static QemuLaunchPlan Of(QemuLaunchPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        return plan with { Argv = Argv(plan.Argv) };
    }
}
