using System.Text.RegularExpressions;
using Strata.Contracts;
using Strata.Contracts.Drivers;

namespace Strata.Node.Drivers.Container;

/// <summary>
/// Filesystem snapshots: a tar of the writable layer (<c>rootfs-upper</c>) in <c>snapshots/NAME.tar</c>. GNU tar
/// keeps what overlayfs needs: whiteouts (0:0 character devices), opaque-directory xattrs, owners and modes.
/// A running container is frozen (<c>runc pause</c>) while the layer is read, so the snapshot is consistent.
/// Restore swaps the layer and needs the container stopped. Memory state (CRIU) is not captured.
/// </summary>
public sealed partial class ContainerDriver
{
    private const string SnapshotDirName = "snapshots";

    [GeneratedRegex("^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$")]
    private static partial Regex SnapshotName();

    private static string SnapshotPath(DriverHandle handle, string snapshot)
    {
        if (!SnapshotName().IsMatch(snapshot))
        {
            throw StrataException.Invalid("snapshot", $"'{snapshot}' is not a valid snapshot name: use 1-63 lowercase letters, digits, '.', '_' or '-'");
        }
        return Path.Combine(handle.Directory, SnapshotDirName, snapshot + ".tar");
    }

    public async Task<SnapshotInfo> SnapshotAsync(DriverHandle handle, string snapshot, CancellationToken cancellationToken)
    {
        var path = SnapshotPath(handle, snapshot);
        if (File.Exists(path))
        {
            throw StrataException.Conflict($"snapshot '{snapshot}' exists already; delete it first or choose another name");
        }
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var runtime = await RuntimeAsync(cancellationToken).ConfigureAwait(false);
        var state = await runtime.StateAsync(handle.InstanceId, cancellationToken).ConfigureAwait(false);
        var paused = false;
        if (state is { Status: "running" })
        {
            var pause = await runtime.RunAsync(["pause", handle.InstanceId], cancellationToken).ConfigureAwait(false);
            if (pause.ExitCode != 0)
            {
                throw new StrataException(ErrorKind.Internal, $"could not freeze the container for a consistent snapshot: {pause.Message}");
            }
            paused = true;
        }
        var tmp = path + ".tmp";
        try
        {
            var tar = await OciRuntime.Exec("tar", ["--create", "--file", tmp, "--xattrs", "--xattrs-include=*", "--numeric-owner", "--sparse", "-C", Rootfs(handle).Upper, "."],
                CancellationToken.None, TimeSpan.FromMinutes(30)).ConfigureAwait(false);
            if (tar.ExitCode != 0)
            {
                throw new StrataException(ErrorKind.Internal, $"snapshot '{snapshot}' failed: tar: {tar.Message}");
            }
            File.Move(tmp, path);
        }
        finally
        {
            File.Delete(tmp); // a failed (e.g. disk full) snapshot leaves nothing behind
            if (paused)
            {
                await runtime.RunAsync(["resume", handle.InstanceId], CancellationToken.None).ConfigureAwait(false);
            }
        }
        return Info(path);
    }

    private static SnapshotInfo Info(string path)
    {
        var file = new FileInfo(path);
        return new SnapshotInfo(Path.GetFileNameWithoutExtension(path), file.LastWriteTimeUtc, file.Length, SnapshotKind.Filesystem);
    }

    public async Task RestoreAsync(DriverHandle handle, string snapshot, CancellationToken cancellationToken)
    {
        var path = SnapshotPath(handle, snapshot);
        if (!File.Exists(path))
        {
            throw StrataException.NotFound($"no snapshot '{snapshot}'; list them with 'strata snapshot ls'");
        }
        var runtime = await RuntimeAsync(cancellationToken).ConfigureAwait(false);
        if (SupervisorAlive(handle) || await runtime.StateAsync(handle.InstanceId, cancellationToken).ConfigureAwait(false) is { Status: "running" or "paused" })
        {
            throw StrataException.Conflict($"cannot restore snapshot '{snapshot}' while the container is running; stop it first");
        }
        var rootfs = Rootfs(handle);
        rootfs.Unmount();
        // Extract next to the live layer, then swap: a failed extraction leaves the current layer untouched.
        var incoming = rootfs.Upper + ".restore";
        var outgoing = rootfs.Upper + ".old";
        DeleteTree(incoming);
        DeleteTree(outgoing);
        Directory.CreateDirectory(incoming);
        var tar = await OciRuntime.Exec("tar", ["--extract", "--file", path, "--xattrs", "--xattrs-include=*", "--numeric-owner", "--same-permissions", "-C", incoming],
            CancellationToken.None, TimeSpan.FromMinutes(30)).ConfigureAwait(false);
        if (tar.ExitCode != 0)
        {
            DeleteTree(incoming);
            throw new StrataException(ErrorKind.Internal, $"restore of '{snapshot}' failed: tar: {tar.Message}");
        }
        Directory.Move(rootfs.Upper, outgoing);
        Directory.Move(incoming, rootfs.Upper);
        DeleteTree(outgoing);
        DeleteTree(rootfs.Work); // overlayfs scratch must not outlive its upper layer
        Directory.CreateDirectory(rootfs.Work);
    }

    public Task<IReadOnlyList<SnapshotInfo>> ListAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        var dir = Path.Combine(handle.Directory, SnapshotDirName);
        IReadOnlyList<SnapshotInfo> list = Directory.Exists(dir)
            ? [.. Directory.EnumerateFiles(dir, "*.tar").Select(Info).OrderBy(s => s.CreatedAt)]
            : [];
        return Task.FromResult(list);
    }

    public Task DeleteAsync(DriverHandle handle, string snapshot, CancellationToken cancellationToken)
    {
        var path = SnapshotPath(handle, snapshot);
        if (!File.Exists(path))
        {
            throw StrataException.NotFound($"no snapshot '{snapshot}'; list them with 'strata snapshot ls'");
        }
        File.Delete(path);
        return Task.CompletedTask;
    }

    private static void DeleteTree(string path)
    {
        if (Directory.Exists(path))
        {
            Directory.Delete(path, recursive: true);
        }
    }
}
