using Strata.Contracts;
using Strata.Contracts.Drivers;

namespace Strata.Node.Drivers.Process;

/// <summary>Cold moves (docs/move.md): a process carries nothing; it is stopped here and started afresh on the target.</summary>
public sealed partial class ProcessDriver : IColdMoveDriver
{
    public string WhyNotLive =>
        "a process cannot move live: it is stopped here and started afresh on the target, its memory is not carried (--cold)";

    public ColdMovePlan PlanColdMove(DriverHandle handle, bool running) =>
        new(ColdMoveCapture.None, "nothing: a process restarts on the target (its memory and open files stay behind)");

    public Task CaptureForMoveAsync(DriverHandle handle, string directory, CancellationToken cancellationToken) => Task.CompletedTask;

    public Task<DriverHandle> StartMovedAsync(DriverHandle handle, string directory, CancellationToken cancellationToken) =>
        StartAsync(handle, cancellationToken);

    public Task PlaceMovedStateAsync(DriverHandle handle, string directory, CancellationToken cancellationToken) => Task.CompletedTask;
}
