using Strata.Contracts.Host;

namespace Strata.Daemon;

/// <summary>The data root at start-up: the sweep of temporary leftovers and the permission check (both logged).</summary>
public sealed partial class DaemonHost
{
    /// <summary>
    /// The directories every start makes sure of, private from the start (see <see cref="DataRootPermissions"/>): the
    /// top-level ones, and those below them that are otherwise made while the daemon runs, some by helpers that use
    /// their own modes (the CNI host-local plugin's lease directory, the tiers' caches, strata bench's results).
    /// </summary>
    private static readonly string[] OwnDirectories =
    [
        "instances", "images", "cache", "run", "networks", "bench",
        "images/disks", "cache/wasm", "cache/guest", "networks/ipam",
    ];

    private static (IReadOnlyList<StartupSweep.Removed> Swept, IReadOnlyList<DataRootPermissions.Fix> Repaired) PrepareRoot(string root)
    {
        var swept = StartupSweep.Run(root);
        var repaired = DataRootPermissions.Enforce(root);
        foreach (var name in OwnDirectories)
        {
            PrivatePaths.CreateDirectory(Path.Combine(root, name));
        }
        // SQLite gives the WAL and SHM files the database's mode: a new store starts as 0600.
        DataRootPermissions.CreatePrivateFile(Path.Combine(root, "state.db"));
        return (swept, repaired);
    }

    private void LogPrepared(IReadOnlyList<StartupSweep.Removed> swept, IReadOnlyList<DataRootPermissions.Fix> repaired)
    {
        if (swept.Count > 0)
        {
            LogSwept(swept.Count, swept.Sum(r => r.Bytes), string.Join(", ", swept.Select(r => r.Path)));
        }
        if (repaired.Count > 0)
        {
            LogPermissionsRepaired(repaired.Count, DataRootPermissions.Describe(repaired));
        }
    }

    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "start-up sweep removed {Count} temporary artefacts of interrupted operations ({Bytes} bytes): {Paths}")]
    private partial void LogSwept(int count, long bytes, string paths);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Warning, Message = "data root permissions repaired ({Count} paths were reachable by other users or looser than the model): {Fixes}")]
    private partial void LogPermissionsRepaired(int count, string fixes);
}
