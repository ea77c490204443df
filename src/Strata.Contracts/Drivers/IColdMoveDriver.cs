namespace Strata.Contracts.Drivers;

/// <summary>When a cold move captures an instance's state, if at all.</summary>
public enum ColdMoveCapture
{
    /// <summary>Nothing is carried: the workload starts afresh on the target (a process, a WASI command module).</summary>
    None,

    /// <summary>Captured from the running workload, then it stops (a stepped wasm module's memory, at a step boundary).</summary>
    WhileRunning,

    /// <summary>Captured once the workload has stopped (a container's writable layer).</summary>
    AfterStop,
}

/// <summary>What a cold move of one instance carries, in words the caller is shown.</summary>
public sealed record ColdMovePlan(ColdMoveCapture Capture, string Carries);

/// <summary>
/// A tier whose instances move cold between daemons (docs/move.md): the source stops the instance and captures
/// what the plan says into a directory (a snapshot's format, where the tier has snapshots); the target creates
/// the instance from the same spec and starts it from that directory, or puts the state in place when the instance
/// was not running. A plan of <see cref="ColdMoveCapture.None"/> never calls the capture or restore methods.
/// </summary>
public interface IColdMoveDriver
{
    /// <summary>Why this tier cannot move live on this node (shown when <c>--live</c> is asked).</summary>
    string WhyNotLive { get; }

    /// <summary>What a cold move of this instance carries; <paramref name="running"/>: it runs now.</summary>
    ColdMovePlan PlanColdMove(DriverHandle handle, bool running);

    /// <summary>Captures the state the plan names into <paramref name="directory"/> (exists, empty).</summary>
    Task CaptureForMoveAsync(DriverHandle handle, string directory, CancellationToken cancellationToken);

    /// <summary>Starts a created instance from the captured state; returns the started handle.</summary>
    Task<DriverHandle> StartMovedAsync(DriverHandle handle, string directory, CancellationToken cancellationToken);

    /// <summary>Puts the captured state in place in a created instance that is not started (a container's layer).</summary>
    Task PlaceMovedStateAsync(DriverHandle handle, string directory, CancellationToken cancellationToken);
}
