using Strata.Contracts;

namespace Strata.Control;

/// <summary>
/// Every legal lifecycle transition, in one place.
///
///   pending ──► creating ──► created ──► running ──► stopping ──► stopped
///                  │            │          │  ▲          │
///                  ▼            │          │  │          └──────► exited(code) / failed(reason)
///               failed          │          ├──┼─────────────────► exited(code)
///                               │          └──┼─────────────────► failed(reason)
///                               │             │
///       stopped | exited | failed ──── start ─┘   (also: restart policy)
///       created | stopped | exited | failed ──── delete ──► deleted
///
/// A request that is illegal in the current state is a 409 naming the instance, the state and what to do.
/// </summary>
public static class InstanceStateMachine
{
    private static readonly Dictionary<InstanceState, InstanceState[]> Allowed = new()
    {
        [InstanceState.Pending] = [InstanceState.Creating, InstanceState.Failed, InstanceState.Deleted],
        [InstanceState.Creating] = [InstanceState.Created, InstanceState.Failed, InstanceState.Deleted],
        [InstanceState.Created] = [InstanceState.Running, InstanceState.Failed, InstanceState.Deleted],
        [InstanceState.Running] = [InstanceState.Stopping, InstanceState.Exited, InstanceState.Failed, InstanceState.Stopped],
        [InstanceState.Stopping] = [InstanceState.Stopped, InstanceState.Exited, InstanceState.Failed],
        [InstanceState.Stopped] = [InstanceState.Running, InstanceState.Deleted, InstanceState.Failed],
        [InstanceState.Exited] = [InstanceState.Running, InstanceState.Deleted, InstanceState.Failed],
        [InstanceState.Failed] = [InstanceState.Running, InstanceState.Deleted],
        [InstanceState.Deleted] = [],
    };

    public static bool CanTransition(InstanceState from, InstanceState to) =>
        Allowed.TryGetValue(from, out var targets) && Array.IndexOf(targets, to) >= 0;

    /// <summary>Throws a Conflict that names the instance, both states, and the way out.</summary>
    public static void EnsureTransition(string name, InstanceState from, InstanceState to, string verb)
    {
        if (!CanTransition(from, to))
        {
            throw StrataException.Conflict($"cannot {verb} instance '{name}': it is {from.ToName()}{Hint(from, verb)}");
        }
    }

    private static string Hint(InstanceState state, string verb) => (state, verb) switch
    {
        (InstanceState.Running, "start") => " already",
        (InstanceState.Running, "remove") or (InstanceState.Stopping, "remove") => "; stop it first or remove it with --force",
        (InstanceState.Pending or InstanceState.Creating, _) => "; wait until it has been created",
        (InstanceState.Stopping, "start") => "; wait until it has stopped",
        _ => "",
    };

    /// <summary>All states, for tests that walk the table.</summary>
    public static IEnumerable<(InstanceState From, InstanceState To)> Transitions =>
        Allowed.SelectMany(kv => kv.Value.Select(to => (kv.Key, to)));
}
