using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Qemu;

namespace Strata.Node.Drivers.Sandbox;

/// <summary>
/// Cold moves of a sandbox (docs/move.md, "Sandboxes"): the move a sandbox takes when it cannot move live (its
/// <c>-v</c> mounts are virtio-fs shares, which QEMU 7.2 cannot migrate) or when it is not running or <c>--cold</c> is
/// asked. The stopped sandbox's disk goes whole (the image's blocks with its own changes, one qcow2 without a backing
/// file), because this node's base disk of the image is not byte for byte the target's: each <c>mkfs.ext4</c> build
/// has its own UUID and hash seed, so an overlay is only valid on the base it was made on. The target creates the
/// sandbox from the same spec (its mounts name the same host paths, its managed volumes are carried by the control
/// plane), puts the disk in place of its fresh overlay and starts it; the workload starts again, its memory stays here.
/// </summary>
public sealed partial class SandboxDriver : IColdMoveDriver
{
    /// <summary>The disk in the capture directory.</summary>
    internal const string MovedDiskFileName = "disk.qcow2";

    /// <summary>Why a sandbox with <c>-v</c> mounts does not move live, and what it does instead.</summary>
    internal const string MountsNotLive =
        "the sandbox shares host paths with -v over virtio-fs, which QEMU cannot migrate live, so it moves cold (without --live): stopped here, its disk carried whole, started again on the target with the same mounts";

    /// <summary>The tier as a whole moves live (<see cref="WhyNotLiveFor"/> names the sandboxes that cannot).</summary>
    public string WhyNotLive => "a sandbox moves live unless it has -v mounts; " + MountsNotLive;

    public string? WhyNotLiveFor(DriverHandle handle)
    {
        ArgumentNullException.ThrowIfNull(handle);
        return File.Exists(Path.Combine(handle.Directory, SandboxWorkload.FileName)) && SandboxWorkload.Load(handle.Directory).Mounts.Count > 0
            ? MountsNotLive
            : null;
    }

    public ColdMovePlan PlanColdMove(DriverHandle handle, bool running) =>
        new(ColdMoveCapture.AfterStop, "its disk (the image's files with its own changes; the workload starts again on the target, its memory stays behind)");

    /// <summary>The stopped sandbox's overlay and its base as one standalone qcow2 (<c>qemu-img convert</c>; only allocated clusters).</summary>
    public async Task CaptureForMoveAsync(DriverHandle handle, string directory, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(handle);
        var overlay = Path.Combine(handle.Directory, OverlayFileName);
        if (!File.Exists(overlay))
        {
            throw StrataException.Conflict($"the sandbox has no disk ({overlay} is missing), so there is nothing to move; remove it and create it on the target");
        }
        var disk = Path.Combine(directory, MovedDiskFileName);
        var r = await ExternalTool.RunAsync("qemu-img", ["convert", "-O", "qcow2", overlay, disk], "qemu-utils", cancellationToken).ConfigureAwait(false);
        if (r.ExitCode != 0)
        {
            File.Delete(disk);
            throw new StrataException(ErrorKind.Internal, $"qemu-img convert of the sandbox's disk for the move failed (exit {r.ExitCode}): {r.Stderr.Trim()}");
        }
    }

    public async Task<DriverHandle> StartMovedAsync(DriverHandle handle, string directory, CancellationToken cancellationToken)
    {
        PlaceDisk(handle, directory);
        return await StartAsync(handle, cancellationToken).ConfigureAwait(false);
    }

    public Task PlaceMovedStateAsync(DriverHandle handle, string directory, CancellationToken cancellationToken)
    {
        PlaceDisk(handle, directory);
        return Task.CompletedTask;
    }

    /// <summary>
    /// The carried disk replaces the overlay the create made. A start from the image's template still works on it: the
    /// guest mounts its root disk only after the template's setup line, as on any restart of a sandbox whose disk changed.
    /// </summary>
    private static void PlaceDisk(DriverHandle handle, string directory)
    {
        ArgumentNullException.ThrowIfNull(handle);
        var moved = Path.Combine(directory, MovedDiskFileName);
        if (!File.Exists(moved))
        {
            throw StrataException.Invalid("state", $"the moved state holds no sandbox disk ({MovedDiskFileName}); the source daemon runs another Strata version, upgrade the older one");
        }
        File.Move(moved, Path.Combine(handle.Directory, OverlayFileName), overwrite: true);
    }
}
