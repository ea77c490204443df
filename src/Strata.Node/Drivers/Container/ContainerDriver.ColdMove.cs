using Strata.Contracts;
using Strata.Contracts.Drivers;

namespace Strata.Node.Drivers.Container;

/// <summary>
/// Cold moves (docs/move.md): the stopped container's writable layer goes to the target as a snapshot's archive;
/// the target creates the container from the same spec (image, networks by name, published ports) and starts it
/// on that layer. Process memory does not move: it would take CRIU.
/// </summary>
public sealed partial class ContainerDriver : IColdMoveDriver
{
    public string WhyNotLive =>
        $"a container cannot move live: CRIU is unavailable on this node because {CriuReason()}; move it cold (--cold: stopped, its writable layer carried, started on the target)";

    private string CriuReason() => _criu switch
    {
        null => "the check has not run yet",
        var s when s.StartsWith("stateful checkpoints unavailable: ", StringComparison.Ordinal) => s["stateful checkpoints unavailable: ".Length..],
        var s => s + " (live container moves through CRIU are not built)",
    };

    public ColdMovePlan PlanColdMove(DriverHandle handle, bool running) =>
        new(ColdMoveCapture.AfterStop, "its writable layer (files; the processes restart on the target)");

    public async Task CaptureForMoveAsync(DriverHandle handle, string directory, CancellationToken cancellationToken) =>
        await SnapshotAsync(handle, directory, cancellationToken).ConfigureAwait(false);

    public Task<DriverHandle> StartMovedAsync(DriverHandle handle, string directory, CancellationToken cancellationToken) =>
        RestoreAsync(handle, directory, cancellationToken);

    public Task PlaceMovedStateAsync(DriverHandle handle, string directory, CancellationToken cancellationToken) =>
        ReplaceLayerAsync(handle, directory, cancellationToken);
}
