using Strata.Contracts;
using Strata.Contracts.Drivers;

namespace Strata.Node.Drivers.Wasm;

/// <summary>
/// Cold moves (docs/move.md): a running stepped module is captured between two steps (its memories and exported
/// globals, as a snapshot) and continues from there on the target; any other module starts afresh there.
/// </summary>
public sealed partial class WasmDriver : IColdMoveDriver
{
    public string WhyNotLive =>
        "a wasm module moves cold only (--cold): a stepped module's memory goes with it, any other module restarts on the target";

    public ColdMovePlan PlanColdMove(DriverHandle handle, bool running)
    {
        if (handle.Data.GetValueOrDefault("kind") != "stepped")
        {
            return new(ColdMoveCapture.None, "nothing: a WASI command module restarts on the target (its call stack lives in the engine)");
        }
        if (!running)
        {
            return new(ColdMoveCapture.None, "nothing: the module is not running, so it has no memory to carry");
        }
        if (SpecOf(handle).Mounts is { Count: > 0 })
        {
            return new(ColdMoveCapture.None, "nothing: a module with granted host directories restarts on the target (its open files are host handles)");
        }
        return new(ColdMoveCapture.WhileRunning, "its memory and globals (a stepped module continues from the last step it finished here)");
    }

    /// <summary>
    /// The capture of a move holds the module at the captured step until the move stops it (at most 30 s, then it goes
    /// on): a step taken in between would run twice, printed here and again from the capture on the target (or here,
    /// when a refused move starts it again from the capture).
    /// </summary>
    public async Task CaptureForMoveAsync(DriverHandle handle, string directory, CancellationToken cancellationToken) =>
        await CaptureAsync(handle, directory, TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// The run applies the memory on its own thread after this returns, so the state is first copied into the
    /// instance's directory (it goes with the instance); the caller may remove <paramref name="directory"/> at once.
    /// </summary>
    public Task<DriverHandle> StartMovedAsync(DriverHandle handle, string directory, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(handle.Directory) || !Directory.Exists(handle.Directory))
        {
            throw StrataException.Conflict("this wasm instance keeps no directory (an auto-removed run), so a moved memory cannot be kept for it");
        }
        var kept = Path.Combine(handle.Directory, "moved-state");
        if (Directory.Exists(kept))
        {
            Directory.Delete(kept, recursive: true);
        }
        Directory.CreateDirectory(kept);
        foreach (var file in Directory.EnumerateFiles(directory))
        {
            File.Copy(file, Path.Combine(kept, Path.GetFileName(file)));
        }
        return RestoreAsync(handle, kept, cancellationToken);
    }

    public Task PlaceMovedStateAsync(DriverHandle handle, string directory, CancellationToken cancellationToken) =>
        throw StrataException.Conflict("a wasm module's memory only moves with a running module");
}
