namespace Strata.Contracts;

/// <summary>
/// Lifecycle states of an instance. Numbers are persisted and frozen.
/// The legal transitions live in <c>Strata.Control.InstanceStateMachine</c>.
/// </summary>
public enum InstanceState
{
    Pending = 1,
    Creating = 2,
    Created = 3,
    Running = 4,
    Stopping = 5,
    Stopped = 6,
    Exited = 7,
    Failed = 8,
    Deleted = 9,
}

public static class InstanceStateNames
{
    public static string ToName(this InstanceState state) => state switch
    {
        InstanceState.Pending => "pending",
        InstanceState.Creating => "creating",
        InstanceState.Created => "created",
        InstanceState.Running => "running",
        InstanceState.Stopping => "stopping",
        InstanceState.Stopped => "stopped",
        InstanceState.Exited => "exited",
        InstanceState.Failed => "failed",
        InstanceState.Deleted => "deleted",
        _ => throw new ArgumentOutOfRangeException(nameof(state), state, "unknown state"),
    };

    /// <summary>States in which the workload is not running and can be started again or removed.</summary>
    public static bool IsFinished(this InstanceState state) =>
        state is InstanceState.Stopped or InstanceState.Exited or InstanceState.Failed;

    /// <summary>States in which a workload process may exist.</summary>
    public static bool IsActive(this InstanceState state) =>
        state is InstanceState.Running or InstanceState.Stopping;
}
