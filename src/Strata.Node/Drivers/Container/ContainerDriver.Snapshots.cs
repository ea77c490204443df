using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Contracts.Host;
using Strata.Node.Supervision;

namespace Strata.Node.Drivers.Container;

/// <summary>
/// Filesystem snapshots: a tar of the writable layer (<c>rootfs-upper</c>) in the snapshot directory the control
/// plane gives (<c>upper.tar</c>). GNU tar
/// keeps what overlayfs needs: whiteouts (0:0 character devices), opaque-directory xattrs, owners and modes.
/// A running container is frozen (<c>runc pause</c>) while the layer is read, so the snapshot is consistent.
/// Restore needs the container stopped: it swaps the layer, then starts the container on it. Memory state (CRIU) is not captured.
/// </summary>
public sealed partial class ContainerDriver
{
    private const string LayerArchive = "upper.tar";

    public async Task<SnapshotDetails> SnapshotAsync(DriverHandle handle, string directory, CancellationToken cancellationToken)
    {
        var path = Path.Combine(directory, LayerArchive);
        var runtime = await RuntimeAsync(cancellationToken).ConfigureAwait(false);
        var state = await runtime.StateAsync(handle.InstanceId, cancellationToken).ConfigureAwait(false);
        var paused = false;
        if (state is { Status: "running" })
        {
            var pause = await runtime.RunAsync(["pause", handle.InstanceId], cancellationToken).ConfigureAwait(false);
            if (pause.ExitCode != 0)
            {
                throw new StrataException(ErrorKind.Internal, $"could not freeze the container for a consistent snapshot: {pause.Error}");
            }
            paused = true;
        }
        try
        {
            await FileTreeArchive.PackAsync(Rootfs(handle).Upper, path, "snapshot").ConfigureAwait(false);
        }
        finally
        {
            // a failed (e.g. disk full) snapshot leaves nothing behind
            if (paused)
            {
                await runtime.RunAsync(["resume", handle.InstanceId], CancellationToken.None).ConfigureAwait(false);
            }
        }
        var size = new FileInfo(path).Length;
        LogSnapshotWritten(handle.InstanceId, path, size, paused);
        return new SnapshotDetails(SnapshotKind.Filesystem, size,
            "the container's writable layer (files only; process memory is not captured: CRIU is unavailable here)");
    }

    public async Task<DriverHandle> RestoreAsync(DriverHandle handle, string directory, CancellationToken cancellationToken)
    {
        await ReplaceLayerAsync(handle, directory, cancellationToken).ConfigureAwait(false);
        return await StartAsync(handle, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Swaps the (stopped) container's writable layer for the one in <paramref name="directory"/>'s archive.</summary>
    private async Task ReplaceLayerAsync(DriverHandle handle, string directory, CancellationToken cancellationToken)
    {
        var path = Path.Combine(directory, LayerArchive);
        if (!File.Exists(path))
        {
            throw StrataException.NotFound("the snapshot has no filesystem layer; it was not taken by the container tier");
        }
        var runtime = await RuntimeAsync(cancellationToken).ConfigureAwait(false);
        if (SupervisedRuntime.SupervisorAlive(handle) || await runtime.StateAsync(handle.InstanceId, cancellationToken).ConfigureAwait(false) is { Status: "running" or "paused" })
        {
            throw StrataException.Conflict("cannot restore a snapshot while the container is running; stop it first");
        }
        var rootfs = Rootfs(handle);
        rootfs.Unmount();
        // Extract next to the live layer, then swap: a failed extraction leaves the current layer untouched.
        var incoming = rootfs.Upper + ".restore";
        var outgoing = rootfs.Upper + ".old";
        DeleteTree(incoming);
        DeleteTree(outgoing);
        await using (var revert = new Revert())
        {
            Directory.CreateDirectory(incoming);
            revert.Add(() => DeleteTree(incoming));
            await FileTreeArchive.UnpackAsync(path, incoming, "restore").ConfigureAwait(false);
            revert.Success();
        }
        Directory.Move(rootfs.Upper, outgoing);
        Directory.Move(incoming, rootfs.Upper);
        DeleteTree(outgoing);
        DeleteTree(rootfs.Work); // overlayfs scratch must not outlive its upper layer
        Directory.CreateDirectory(rootfs.Work);
        LogRestored(handle.InstanceId, path);
    }

    private static void DeleteTree(string path)
    {
        if (Directory.Exists(path))
        {
            Directory.Delete(path, recursive: true);
        }
    }
}
