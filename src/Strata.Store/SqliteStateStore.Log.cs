using Microsoft.Extensions.Logging;

namespace Strata.Store;

// The state store's log lines: EventIds 6000-6099 (docs/contributing.md, "Logging").
public sealed partial class SqliteStateStore
{
    [LoggerMessage(EventId = 6001, Level = LogLevel.Information, Message = "state database {Path} open at schema version {Version}")]
    private partial void LogOpened(string path, int version);

    [LoggerMessage(EventId = 6002, Level = LogLevel.Information, Message = "state database {Path} migrated from schema version {From} to {To}")]
    private partial void LogMigrated(string path, int from, int to);

    [LoggerMessage(EventId = 6003, Level = LogLevel.Debug, Message = "update of instance {Project}/{Name} at revision {Revision} refused: {Why}")]
    private partial void LogUpdateRefused(string project, string name, long revision, string why);
}
