namespace Strata.Qemu;

/// <summary>
/// A QEMU started in a session of its own (<c>setsid</c>), as the supervisor starts every workload. Linux shares the CPU
/// between sessions first (autogroups, <c>/proc/sys/kernel/sched_autogroup_enabled</c>), then between the threads of
/// each: a QEMU left in its starter's session shares that one session's CPU with everything else in it. Used for the
/// QEMUs the daemon starts itself (a template boot, which would otherwise compete with the daemon's own threads and, with
/// a daemon run from a terminal, get the terminal's Ctrl-C) and for the benches' raw baselines, which left in the bench's
/// session ran up to 6 × slower than the same guest under Strata on a loaded host (docs/bench.md, "Baselines and sessions").
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
