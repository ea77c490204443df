using System.Globalization;
using System.Text.Json;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Policy.Admission;
using Strata.Store;

namespace Strata.Control;

/// <summary>
/// Snapshots, for tiers whose driver implements <see cref="ISnapshotDriver"/>. Layout under the instance:
///   snapshots/&lt;snap&gt;/       what the driver wrote (opaque here)
///   snapshots/&lt;snap&gt;.json  the <see cref="SnapshotInfo"/> (written last: a snapshot without it does not exist)
/// Snapshots live and die with their instance.
/// </summary>
public sealed partial class InstanceService
{
    public async Task<SnapshotInfo> CreateSnapshotAsync(string project, string name, string? snapshot, CancellationToken cancellationToken)
    {
        var entry = Find(project, name);
        var snap = snapshot ?? "snap-" + _time.GetUtcNow().ToString("yyyyMMdd-HHmmss-fff", CultureInfo.InvariantCulture);
        SpecValidator.ValidateName(snap, "name");
        await entry.Lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var record = entry.Record;
            var driver = SnapshotDriver(record);
            var (directory, infoPath) = SnapshotPaths(record, snap);
            if (File.Exists(infoPath))
            {
                throw StrataException.Conflict($"instance '{name}' already has a snapshot named '{snap}'; remove it first or choose another name");
            }
            TryDeleteDirectory(directory); // leftovers of an attempt that did not finish
            Directory.CreateDirectory(directory);
            SnapshotDetails details;
            try
            {
                details = await driver.SnapshotAsync(record.Handle!, directory, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                TryDeleteDirectory(directory);
                throw;
            }
            var info = new SnapshotInfo
            {
                Name = snap,
                Instance = name,
                Kind = details.Kind.ToString().ToLowerInvariant(),
                SizeBytes = details.SizeBytes,
                Description = details.Description,
                CreatedAt = _time.GetUtcNow(),
            };
            await File.WriteAllTextAsync(infoPath, JsonSerializer.Serialize(info, StrataJsonContext.Default.SnapshotInfo), CancellationToken.None).ConfigureAwait(false);
            _events.Publish("snapshot-created", View(record));
            return info;
        }
        finally
        {
            entry.Lock.Release();
        }
    }

    public IReadOnlyList<SnapshotInfo> ListSnapshots(string project, string name)
    {
        var record = Find(project, name).Record;
        var root = Path.Combine(InstanceDirectory(record.Id), "snapshots");
        if (!Directory.Exists(root))
        {
            return [];
        }
        var list = new List<SnapshotInfo>();
        foreach (var file in Directory.EnumerateFiles(root, "*.json"))
        {
            try
            {
                if (JsonSerializer.Deserialize(File.ReadAllText(file), StrataJsonContext.Default.SnapshotInfo) is { } info)
                {
                    list.Add(info);
                }
            }
            catch (Exception e) when (e is IOException or JsonException)
            {
                // A half-written record is not a snapshot.
            }
        }
        list.Sort(static (a, b) => a.CreatedAt.CompareTo(b.CreatedAt));
        return list;
    }

    /// <summary>
    /// Starts the (stopped, exited or failed) instance again from a snapshot. What "from a snapshot" means is the
    /// tier's: wasm runs a fresh instance of the same module with the saved memory and globals.
    /// </summary>
    public async Task<InstanceRecord> RestoreSnapshotAsync(string project, string name, string snapshot, CancellationToken cancellationToken)
    {
        var entry = Find(project, name);
        await entry.Lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var record = entry.Record;
            var driver = SnapshotDriver(record);
            var (directory, infoPath) = SnapshotPaths(record, snapshot);
            if (!File.Exists(infoPath))
            {
                throw StrataException.NotFound($"instance '{name}' has no snapshot named '{snapshot}'; 'strata snapshot ls {name}' lists them");
            }
            if (record.State == InstanceState.Running && driver is ILiveSnapshotDriver live)
            {
                // The tier can put a running instance back in place (a VM continues from the saved moment).
                await live.RestoreRunningAsync(record.Handle!, directory, cancellationToken).ConfigureAwait(false);
                _events.Publish("snapshot-restored", View(record));
                return record;
            }
            if (record.State.IsActive())
            {
                throw StrataException.Conflict($"cannot restore instance '{name}' while it is {record.State.ToName()}; stop it first ('strata stop {name}')");
            }
            InstanceStateMachine.EnsureTransition(name, record.State, InstanceState.Running, "restore");
            await StartLockedAsync(entry, 0, cancellationToken,
                (d, handle) => ((ISnapshotDriver)d).RestoreAsync(handle, directory, cancellationToken)).ConfigureAwait(false);
            return entry.Record;
        }
        finally
        {
            entry.Lock.Release();
        }
    }

    public async Task DeleteSnapshotAsync(string project, string name, string snapshot, CancellationToken cancellationToken)
    {
        var entry = Find(project, name);
        await entry.Lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var (directory, infoPath) = SnapshotPaths(entry.Record, snapshot);
            if (!File.Exists(infoPath))
            {
                throw StrataException.NotFound($"instance '{name}' has no snapshot named '{snapshot}'");
            }
            File.Delete(infoPath); // first: from here on the snapshot does not exist, even if the data removal fails
            if (_drivers.Find(entry.Record.Tier) is ILiveSnapshotDriver live && entry.Record.Handle is { } handle)
            {
                try
                {
                    // Engine-side data (a VM's internal snapshot inside its disk overlay).
                    await live.DeleteSnapshotAsync(handle, directory, entry.Record.State == InstanceState.Running, cancellationToken).ConfigureAwait(false);
                }
                catch (StrataException)
                {
                    // The snapshot is already gone from the listing; leftover engine data goes with the instance.
                }
            }
            TryDeleteDirectory(directory);
        }
        finally
        {
            entry.Lock.Release();
        }
    }

    private ISnapshotDriver SnapshotDriver(InstanceRecord record)
    {
        if (_drivers.Find(record.Tier) is not ISnapshotDriver driver || driver is not IDriver { Capabilities.Snapshots: not SnapshotKind.None })
        {
            throw StrataException.Conflict($"the {record.Tier.ToName()} tier does not support snapshots (instance '{record.Name}')");
        }
        if (record.Handle is null)
        {
            throw StrataException.Conflict($"instance '{record.Name}' is {record.State.ToName()}; it has nothing to snapshot yet");
        }
        return driver;
    }

    private (string Directory, string InfoPath) SnapshotPaths(InstanceRecord record, string snapshot)
    {
        SpecValidator.ValidateName(snapshot, "snapshot");
        var root = Path.Combine(InstanceDirectory(record.Id), "snapshots");
        Directory.CreateDirectory(root);
        return (Path.Combine(root, snapshot), Path.Combine(root, snapshot + ".json"));
    }
}
